"""Autologged traces land in our server and read back as the autologger wrote them, with no
network and no LLM: mlflow.langchain.autolog() over a prompt | fake chat model | parser chain
(langchain-core's GenericFakeChatModel), and mlflow.openai.autolog() over the real `openai`
client. No OpenAI API can run here: the openai client talks to a stand-in for it, a tiny local
HTTP server started by the test that answers /v1/chat/completions with a fixed completion, whole
or streamed. Each trace is found by search_traces and read by get_trace: span types, the
messages in and out, and the token usage, model and stream chunks the autologger recorded."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey

from conftest import unique

USAGE = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}]


@pytest.fixture
def exp_id(client):
    return mlflow.set_experiment(unique("autolog")).experiment_id


class _OpenAIStandIn(BaseHTTPRequestHandler):
    """Answers any chat completion with "Paris." and fixed token counts, as one JSON body or, when
    asked to stream, as server-sent chunks ("Par", "is.", then the usage); keeps the bodies it got."""
    received: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append({"path": self.path, **body})
        head = {"id": "chatcmpl-standin", "created": 1_700_000_000, "model": body["model"]}
        usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
            self._answer("application/json", json.dumps({**head, "object": "chat.completion", "choices": [choice],
                                                         "usage": usage}))
            return
        chunk = {**head, "object": "chat.completion.chunk", "usage": None}
        first = {"role": "assistant", "content": "Par"}
        chunks = [
            {**chunk, "choices": [{"index": 0, "delta": first, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]},
            {**chunk, "choices": [], "usage": usage},
        ]
        self._answer("text/event-stream", "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n")

    def _answer(self, content_type: str, text: str):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def openai_standin():
    """The base URL of the OpenAI API stand-in, on a free local port for this test."""
    _OpenAIStandIn.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIStandIn)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _read_back(exp_id: str):
    """The experiment's one trace with a chat model span, as search_traces finds it and as
    get_trace reads it."""
    mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(locations=[exp_id], filter_string="span.type = 'CHAT_MODEL'", return_type="list")
    assert len(found) == 1
    trace = mlflow.get_trace(found[0].info.trace_id)
    assert trace.info.state.value == "OK" and trace.info.experiment_id == exp_id
    assert found[0].info.token_usage == trace.info.token_usage == USAGE
    return found[0], trace


def test_langchain_chain_is_traced_span_by_span(exp_id):
    mlflow.langchain.autolog()
    try:
        model = GenericFakeChatModel(messages=iter([AIMessage(content="Paris.", usage_metadata=USAGE)]))
        prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "{question}")])
        chain = prompt | model | StrOutputParser()
        assert chain.invoke({"question": "Capital of France?"}) == "Paris."
        searched, trace = _read_back(exp_id)
    finally:
        mlflow.langchain.autolog(disable=True)

    assert searched.info.request_preview == '{"question": "Capital of France?"}'
    assert searched.info.response_preview == '"Paris."'
    spans = {span.name: span for span in trace.data.spans}
    assert list(spans) == ["RunnableSequence", "ChatPromptTemplate", "GenericFakeChatModel", "StrOutputParser"]
    root = spans["RunnableSequence"]
    assert root.parent_id is None and root.span_type == SpanType.CHAIN
    assert root.inputs == {"question": "Capital of France?"} and root.outputs == "Paris."
    assert all(span.parent_id == root.span_id for span in trace.data.spans[1:])
    assert spans["ChatPromptTemplate"].span_type == SpanType.CHAIN
    assert [m["content"] for m in spans["ChatPromptTemplate"].outputs["messages"]] == [m["content"] for m in MESSAGES]

    chat = spans["GenericFakeChatModel"]
    assert chat.span_type == SpanType.CHAT_MODEL
    assert [(m["role"], m["content"]) for m in chat.inputs["messages"]] == [(m["role"], m["content"]) for m in MESSAGES]
    assert chat.outputs["choices"][0]["message"] == {**chat.outputs["choices"][0]["message"],
                                                     "role": "assistant", "content": "Paris."}
    assert chat.get_attribute(SpanAttributeKey.CHAT_USAGE) == USAGE
    assert chat.get_attribute(SpanAttributeKey.MESSAGE_FORMAT) == "langchain"
    assert chat.get_attribute(SpanAttributeKey.MODEL_PROVIDER) == "genericfakechatmodel"
    assert chat.start_time_ns >= root.start_time_ns and chat.end_time_ns <= root.end_time_ns
    assert spans["StrOutputParser"].outputs == "Paris."


def test_openai_chat_completion_is_traced(exp_id, openai_standin):
    mlflow.openai.autolog()
    try:
        llm = openai.OpenAI(base_url=openai_standin, api_key="sk-standin", max_retries=0)
        completion = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0)
        assert completion.choices[0].message.content == "Paris."
        searched, trace = _read_back(exp_id)
    finally:
        mlflow.openai.autolog(disable=True)

    assert _OpenAIStandIn.received == [{"path": "/v1/chat/completions", "model": "gpt-4o-mini",
                                        "messages": MESSAGES, "temperature": 0}]
    assert searched.info.request_preview == "Capital of France?" and searched.info.response_preview == "Paris."
    [span] = trace.data.spans
    assert span.name == "Completions" and span.parent_id is None and span.span_type == SpanType.CHAT_MODEL
    assert span.inputs == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0}
    assert span.outputs["choices"][0]["message"]["content"] == "Paris."
    assert span.outputs["usage"]["prompt_tokens"] == 12 and span.outputs["id"] == "chatcmpl-standin"
    assert span.get_attribute(SpanAttributeKey.CHAT_USAGE) == USAGE
    assert span.get_attribute(SpanAttributeKey.MODEL) == "gpt-4o-mini"
    assert span.get_attribute(SpanAttributeKey.MESSAGE_FORMAT) == "openai"
    assert span.get_attribute("temperature") == 0
    assert "sk-standin" not in trace.to_json()  # the API key stays with the openai client


def test_openai_stream_is_traced_with_its_chunks(exp_id, openai_standin):
    mlflow.openai.autolog()
    try:
        llm = openai.OpenAI(base_url=openai_standin, api_key="sk-standin", max_retries=0)
        stream = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True})
        assert "".join(c.choices[0].delta.content for c in stream if c.choices) == "Paris."
        _, trace = _read_back(exp_id)
    finally:
        mlflow.openai.autolog(disable=True)

    [span] = trace.data.spans
    assert span.span_type == SpanType.CHAT_MODEL and span.inputs["stream"] is True
    assert span.outputs["choices"][0]["message"]["content"] == "Paris."  # put together from the chunks
    assert span.get_attribute(SpanAttributeKey.CHAT_USAGE) == USAGE
    assert [event.name for event in span.events] == [f"mlflow.chunk.item.{i}" for i in range(3)]
    contents = [json.loads(event.attributes["mlflow.chunk.value"])["choices"] for event in span.events]
    assert [c[0]["delta"]["content"] for c in contents[:2]] == ["Par", "is."] and contents[2] == []

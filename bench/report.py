"""The benchmarks' table: one column per server, then ratios of the first against each other."""


def fmt(value):
    if isinstance(value, int):
        return str(value)
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def cell(result):
    if result is None:
        return "-"
    if result.get("error"):
        return "error: " + result["error"][:60]
    return fmt(result["value"])


def ratio(first, other, higher_is_better):
    if higher_is_better is None or not first or not other:
        return "-"
    a, b = first.get("value"), other.get("value")
    if a is None or b is None or a == 0 or b == 0:
        return "-"
    return f"{(a / b if higher_is_better else b / a):.2f}x"


def print_table(names, rows, specs, pairs=None):
    """pairs: the ratio columns, (a, b) for 'a vs b'; default the first name against each other one."""
    pairs = [(names[0], n) for n in names[1:]] if pairs is None else pairs
    header = ["scenario", "unit", *names, *[f"{a} vs {b}" for a, b in pairs]]
    lines = []
    for key, spec in specs.items():
        results = rows.get(key, {})
        if not any(results.get(n) for n in names):
            continue
        label, unit, higher = spec
        lines.append([label, unit, *[cell(results.get(n)) for n in names],
                      *[ratio(results.get(a), results.get(b), higher) for a, b in pairs]])
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]

    def render(line):
        return "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in enumerate(zip(line, widths)))

    print(render(header))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(render(line))
    if pairs:
        print("\nratios 'a vs b': >1 means a is better (faster, or less memory).")

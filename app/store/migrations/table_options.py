"""Table options the migrations give every table."""


def table_options(bind) -> dict:
    """MySQL/MariaDB: full Unicode and a binary collation without trailing-space padding, so
    that names and values compare and stay unique exactly as on SQLite and PostgreSQL
    ('a', 'A' and 'a ' are three values)."""
    if bind.dialect.name != "mysql":
        return {}
    collation = "utf8mb4_nopad_bin" if bind.dialect.is_mariadb else "utf8mb4_0900_bin"
    return {"mysql_charset": "utf8mb4", "mysql_collate": collation}

"""The baseline of the `versus` benchmark: what a plain Python script does to read Stripe customers —
`requests` with a keep-alive session, one cursor, `json` decode, the connector's eleven columns, JSON
out on stdout. Usage: python3 python_pager.py BASE_URL KEY LIMIT
"""
import json
import sys

import requests

COLUMNS = ["id", "created", "email", "name", "description", "currency", "balance", "delinquent",
           "address_country", "tax_exempt", "livemode"]


def row(c):
    address = c.get("address") or {}
    return [c["id"], c["created"], c.get("email"), c.get("name"), c.get("description"),
            c.get("currency"), c.get("balance"), c.get("delinquent"), address.get("country"),
            c.get("tax_exempt"), c["livemode"]]


def main():
    base, key, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.headers["Stripe-Version"] = "2026-04-22.dahlia"
    rows, after = [], None
    while len(rows) < limit:
        params = {"limit": min(100, limit - len(rows))}
        if after:
            params["starting_after"] = after
        page = session.get(f"{base}/v1/customers", params=params).json()
        rows.extend(row(c) for c in page["data"])
        if not page["has_more"] or not page["data"]:
            break
        after = page["data"][-1]["id"]
    json.dump({"table": "customers", "columns": COLUMNS, "rows": rows, "truncated": False}, sys.stdout)


if __name__ == "__main__":
    main()

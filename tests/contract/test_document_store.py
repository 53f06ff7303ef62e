"""The DocumentStore contract, run against the in-memory store and the Firestore emulator."""

from __future__ import annotations

import threading

import pytest

from shared.ports.documents import DocumentExists, DocumentStore, Filter, StaleVersion


def test_missing_document_is_none(store: DocumentStore, collection: str) -> None:
    assert store.get(collection, "nope") is None
    assert store.run_in_transaction(lambda tx: tx.get(collection, "nope")) is None


def test_create_stores_version_one_and_refuses_a_second_create(
    store: DocumentStore, collection: str
) -> None:
    store.run_in_transaction(lambda tx: tx.create(collection, "a", {"n": 1}))
    assert store.get(collection, "a") == {"n": 1, "_version": 1}
    with pytest.raises(DocumentExists):
        store.run_in_transaction(lambda tx: tx.create(collection, "a", {"n": 2}))
    assert store.get(collection, "a") == {"n": 1, "_version": 1}


def test_versioned_save_and_a_stale_writer_loses(store: DocumentStore, collection: str) -> None:
    store.run_in_transaction(lambda tx: tx.create(collection, "a", {"n": 1}))
    seen_by_a = store.get(collection, "a")
    seen_by_b = store.get(collection, "a")
    assert seen_by_a and seen_by_b
    store.run_in_transaction(
        lambda tx: tx.save(collection, "a", {"n": 2}, expected_version=seen_by_b["_version"])
    )
    with pytest.raises(StaleVersion):
        store.run_in_transaction(
            lambda tx: tx.save(collection, "a", {"n": 3}, expected_version=seen_by_a["_version"])
        )
    assert store.get(collection, "a") == {"n": 2, "_version": 2}


def test_a_failing_transaction_writes_nothing(store: DocumentStore, collection: str) -> None:
    def work(tx: object) -> None:
        tx.create(collection, "a", {"n": 1})  # type: ignore[attr-defined]
        tx.put(collection, "b", {"n": 1})  # type: ignore[attr-defined]
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        store.run_in_transaction(work)
    assert store.get(collection, "a") is None and store.get(collection, "b") is None


def test_reads_may_follow_writes_inside_a_transaction(
    store: DocumentStore, collection: str
) -> None:
    def work(tx: object) -> object:
        tx.put(collection, "a", {"n": 1})  # type: ignore[attr-defined]
        return tx.get(collection, "other")  # type: ignore[attr-defined]

    assert store.run_in_transaction(work) is None
    assert store.get(collection, "a") == {"n": 1}


def test_concurrent_read_modify_writes_lose_no_update(
    store: DocumentStore, collection: str
) -> None:
    store.run_in_transaction(lambda tx: tx.create(collection, "counter", {"n": 0}))

    def increment(tx: object) -> None:
        current = tx.get(collection, "counter")  # type: ignore[attr-defined]
        tx.save(  # type: ignore[attr-defined]
            collection, "counter", {"n": current["n"] + 1}, expected_version=current["_version"]
        )

    threads = [
        threading.Thread(target=store.run_in_transaction, args=(increment,)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(collection, "counter") == {"n": 3, "_version": 4}


def test_query_filters_orders_and_pages(store: DocumentStore, collection: str) -> None:
    rows = {
        f"d{i}": {"center": "c1" if i % 2 else "c2", "day": f"2026-01-{i % 4 + 1:02d}", "n": i}
        for i in range(10)
    }
    rows["no-day"] = {"center": "c1", "n": 99}

    def write_all(tx: object) -> None:
        for doc_id, data in rows.items():
            tx.put(collection, doc_id, data)  # type: ignore[attr-defined]

    store.run_in_transaction(write_all)
    c1 = store.query(collection, [Filter("center", "==", "c1")], limit=100)
    assert sorted(doc_id for doc_id, _ in c1.items) == ["d1", "d3", "d5", "d7", "d9", "no-day"]
    ranged = store.query(collection, [Filter("n", ">=", 3), Filter("n", "<", 6)], order_by="n")
    assert [data["n"] for _, data in ranged.items] == [3, 4, 5]
    assert len(store.query(collection, [Filter("n", "in", [1, 2, 99])]).items) == 3

    seen: list[str] = []
    after = None
    while True:
        page = store.query(collection, order_by="day", descending=True, limit=3, after=after)
        seen += [doc_id for doc_id, _ in page.items]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert len(seen) == len(set(seen)) == 10  # ties broken by id; no "day": not listed
    days = [rows[doc_id]["day"] for doc_id in seen]
    assert days == sorted(days, reverse=True)


def test_count_counts_what_matches_up_to_a_limit(store: DocumentStore, collection: str) -> None:
    def write_all(tx: object) -> None:
        for n in range(7):
            tx.put(collection, f"d{n}", {"block": n % 2, "n": n})  # type: ignore[attr-defined]

    store.run_in_transaction(write_all)
    assert store.count(collection, [Filter("block", "==", 1)], up_to=100) == 3
    assert store.count(collection, [Filter("block", "==", 0)], up_to=2) == 2
    assert store.count(collection, up_to=100) == 7
    assert store.count(collection, [Filter("block", "==", 5)], up_to=1) == 0
    assert store.count(f"{collection}_none", up_to=1) == 0


def test_query_on_nested_field(store: DocumentStore, collection: str) -> None:
    store.run_in_transaction(lambda tx: tx.put(collection, "a", {"client": {"code": "X"}}))
    assert [i for i, _ in store.query(collection, [Filter("client.code", "==", "X")]).items] == [
        "a"
    ]

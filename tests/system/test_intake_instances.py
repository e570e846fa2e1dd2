"""Several instances on one PostgreSQL database take updates from the intake table at the same
time: none is taken twice, and one chat's updates are taken one at a time, in order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from jobs.intake import claim_updates, mark_done, store_updates
from jobs.storage.db import Store, make_engine, upgrade
from jobs.storage.presence import Presence

CHATS = 60
PER_CHAT = 3


def _update(update_id: int, chat: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": f"m{update_id}",
                                                "chat": {"id": chat, "type": "private"}}}


def test_instances_never_take_the_same_update_and_keep_each_chats_order(postgres_url):
    engine = make_engine(postgres_url)
    upgrade(engine)
    store = Store(engine)
    now = datetime.now(UTC)
    raws = [_update(n * CHATS + chat + 1, 5000 + chat) for n in range(PER_CHAT) for chat in range(CHATS)]
    store.call(store_updates, updates=raws, now=now)
    taken: list[tuple[str, int]] = []  # (instance, update id), in the order they were taken
    lock = threading.Lock()
    errors = []

    def instance(name: str) -> None:
        presence = Presence(engine).acquire()
        try:
            while True:
                claimed = store.call(claim_updates, now=now, limit=7, lease=timedelta(minutes=2),
                                     holder=presence.holder)
                if not claimed:
                    with lock:
                        if len(taken) == len(raws):
                            return
                    continue
                with lock:
                    taken.extend((name, item.update_id) for item in claimed)
                store.call(mark_done, update_ids=[item.update_id for item in claimed], now=now)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            presence.release()

    threads = [threading.Thread(target=instance, args=(f"i{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engine.dispose()
    assert not errors
    ids = [update_id for _, update_id in taken]
    assert sorted(ids) == sorted(raw["update_id"] for raw in raws)  # each exactly once
    for chat in range(CHATS):
        of_chat = [update_id for update_id in ids if (update_id - 1) % CHATS == chat]
        assert of_chat == sorted(of_chat)  # in order
    assert len({name for name, _ in taken}) > 1  # the instances really shared the work

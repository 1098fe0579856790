"""The journal's pieces: its moto patch point (a tripwire that fails by name if moto moves
it), per-request seeding of moto's ids, framing that survives a torn tail, and replay of a
request through moto's own app giving back the same ids."""
from __future__ import annotations

import io
import pickle

import pytest

from localcloud.core import state_journal as sj


def test_tripwire_moto_mock_random_is_the_one_source_of_ids():
    """Patch point: moto.moto_api._internal.mock_random (a MotoRandom). If a moto upgrade
    moves it, the journal can no longer replay ids: this test names it."""
    from moto.moto_api._internal import mock_random
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.iam import utils as iam_utils

    assert isinstance(mock_random, MotoRandom), "moto.moto_api._internal.mock_random moved"
    # IAM's ids (RoleId) and SQS/S3's uuids come from it
    assert iam_utils.random is mock_random, "moto.iam.utils.random is no longer mock_random"
    for method in ("uuid4", "get_random_hex", "get_random_string", "choice", "choices"):
        assert hasattr(mock_random, method), f"MotoRandom.{method} moved"


def test_seeded_requests_draw_the_same_ids_per_thread():
    import threading

    from moto.moto_api._internal import mock_random

    sj.install_seeded_random()
    with sj.seeded(42):
        first = (mock_random.uuid4(), mock_random.get_random_hex(12),
                 mock_random.choices("abc", k=8))
    seen = []

    def other() -> None:  # another thread drawing meanwhile must not disturb a seeded one
        for _ in range(100):
            seen.append(mock_random.uuid4())

    t = threading.Thread(target=other)
    with sj.seeded(42):
        t.start()
        again = (mock_random.uuid4(), mock_random.get_random_hex(12),
                 mock_random.choices("abc", k=8))
    t.join()
    assert first == again
    assert mock_random.uuid4() != first[0]  # outside seeded(): moto's own random again


def test_journal_frames_survive_a_torn_tail(tmp_path):
    j = sj.Journal(tmp_path / "journal")
    for i in range(3):
        j.append(pickle.dumps((float(i), i, {"PATH_INFO": f"/{i}"}, b"x" * i)))
    j.close()
    [(gen, path)] = sj.generations(tmp_path / "journal")
    with open(path, "ab") as f:  # an OS crash in the middle of a write
        f.write(sj._HEAD.pack(sj.MAGIC, 100, 0) + b"half")
    entries = list(sj.read_entries(path))
    assert [e[2]["PATH_INFO"] for e in entries] == ["/0", "/1", "/2"]
    # a flipped byte inside an entry ends the journal there, never replays garbage
    data = bytearray(path.read_bytes())
    data[sj._HEAD.size + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert list(sj.read_entries(path)) == []


def test_rotate_and_drop_before(tmp_path):
    j = sj.Journal(tmp_path / "journal")
    j.append(b"a")
    g2 = j.rotate()
    j.append(b"b")
    assert [g for g, _ in sj.generations(tmp_path / "journal")] == [g2 - 1, g2]
    j.drop_before(g2)
    assert [g for g, _ in sj.generations(tmp_path / "journal")] == [g2]
    j.close()


def test_invokes_are_never_journaled():
    assert not sj._journaled({"PATH_INFO": "/2015-03-31/functions/f/invocations"})
    assert not sj._journaled({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"})
    assert not sj._journaled({"QUERY_STRING": "Action=ReceiveMessage&QueueUrl=x"})
    assert sj._journaled({"HTTP_X_AMZ_TARGET": "AmazonSQS.CreateQueue"})


def test_replay_through_moto_gives_the_same_role_id_and_date(tmp_path):
    """Capture a CreateRole through the journal middleware, reset moto, replay: same RoleId,
    same Arn, same CreateDate (the clock is set to the request's own time)."""
    import time

    from moto.iam.models import iam_backends

    from localcloud.core.server import make_moto_app

    sj.install_seeded_random()
    app = make_moto_app()
    j = sj.Journal(tmp_path / "journal")
    mw = sj.journal_middleware(app, j, lambda env: True, lambda: True)
    body = (b"Action=CreateRole&Version=2010-05-08&RoleName=journal-replay-role&"
            b"AssumeRolePolicyDocument=%7B%7D")
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "5000", "HTTP_HOST": "localhost:5000",
               "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "wsgi.url_scheme": "http",
               "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                                     "20260101/us-east-1/iam/aws4_request, SignedHeaders=host, "
                                     "Signature=0",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO()}
    status = []
    b"".join(mw(environ, lambda s, h, e=None: status.append(s)))
    assert status[0].startswith("200"), status
    j.close()
    account = next(a for a in iam_backends if "journal-replay-role" in
                   {r.name for r in iam_backends[a]["global"].roles.values()})
    backend = iam_backends[account]["global"]
    role = next(r for r in backend.roles.values() if r.name == "journal-replay-role")
    before = (role.id, role.arn, role.create_date)
    backend.delete_role("journal-replay-role")
    time.sleep(0.05)
    done = sj.replay(tmp_path / "journal", 0, app)
    assert done == {"replayed": 1, "differed": 0, "failed": 0}
    role = next(r for r in backend.roles.values() if r.name == "journal-replay-role")
    assert (role.id, role.arn) == before[:2]
    assert abs((role.create_date - before[2]).total_seconds()) < 1.0
    backend.delete_role("journal-replay-role")

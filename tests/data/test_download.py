"""Tests of the downloader against a local HTTP server with Range support (no internet)."""

from __future__ import annotations

import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cropviz.data import open_breizhcrops
from cropviz.data.download import download_breizhcrops
from cropviz.errors import DownloadError
from tests.data.layout_fixtures import make_series, write_layout


class RangeHandler(BaseHTTPRequestHandler):
    """Serves files under ``server.directory``; honours ``Range: bytes=a-``; can cut transfers."""

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        path = server.directory / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut_once.pop(self.path, None)
        if cut is not None:  # send part of the body, then drop the connection
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


def _tar(target: Path, members: dict[str, Path]) -> None:
    with tarfile.open(target, "w:gz") as tar:
        for name, source in members.items():
            tar.add(source, arcname=name)


@pytest.fixture()
def remote(tmp_path):
    """A served folder laid out like the BreizhCrops bucket, and the running server."""
    src = write_layout(tmp_path / "src", [(1, "BTH", make_series("L1C", 12)),
                                          (2, "MIE", make_series("L1C", 8))])
    serve = tmp_path / "serve"
    (serve / "2017" / "L1C").mkdir(parents=True)
    (serve / "2017" / "shp").mkdir(parents=True)
    for name in ("codes.csv", "classmapping.csv"):
        (serve / name).write_bytes((src / name).read_bytes())
    (serve / "2017/L1C/frh04.csv").write_bytes((src / "2017/L1C/frh04.csv").read_bytes())
    _tar(serve / "2017/L1C/frh04.h5.tar.gz", {"data/frh04.h5": src / "2017/L1C/frh04.h5"})
    _tar(serve / "2017/shp/frh04.tar.gz",
         {f"frh04/frh04{ext}": src / "2017" / f"frh04{ext}" for ext in (".shp", ".shx", ".dbf", ".prj")})
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.directory, server.requests, server.cut_once = serve, [], {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    server.h5_size = (src / "2017/L1C/frh04.h5").stat().st_size
    yield server
    server.shutdown()
    server.server_close()


def test_full_download_opens(remote, tmp_path):
    root = tmp_path / "bc"
    out = download_breizhcrops(root, "frh04", 2017, "L1C", base_url=remote.base_url,
                               progress=False, expected_h5_size=remote.h5_size)
    assert out["h5"] == root / "2017/L1C/frh04.h5" and out["h5"].stat().st_size == remote.h5_size
    assert sorted(p.name for p in (root / "2017").iterdir()) == [
        "L1C", "frh04.dbf", "frh04.prj", "frh04.shp", "frh04.shx"]
    assert not list(root.rglob("*.part")) and not list(root.rglob("*.tar.gz"))
    assert {p for p, _ in remote.requests} == {
        "/codes.csv", "/classmapping.csv", "/2017/L1C/frh04.csv", "/2017/L1C/frh04.h5.tar.gz",
        "/2017/shp/frh04.tar.gz"}
    ds = open_breizhcrops(root, "frh04")
    assert len(ds) == 2 and len(ds.parcel(1)) == 12
    assert ds.geodataframe().geometry.notna().sum() == 2
    # a second run finds everything complete and fetches nothing
    remote.requests.clear()
    download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=False,
                         expected_h5_size=remote.h5_size)
    assert remote.requests == []


def test_resume_from_part_file(remote, tmp_path):
    root = tmp_path / "bc"
    index = (remote.directory / "2017/L1C/frh04.csv").read_bytes()
    (root / "2017/L1C").mkdir(parents=True)
    (root / "2017/L1C/frh04.csv.part").write_bytes(index[:40])
    download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=True,
                         expected_h5_size=remote.h5_size, geometry=False)
    assert ("/2017/L1C/frh04.csv", "bytes=40-") in remote.requests
    assert (root / "2017/L1C/frh04.csv").read_bytes() == index


def test_interrupted_transfer_then_resume(remote, tmp_path):
    root = tmp_path / "bc"
    archive = (remote.directory / "2017/L1C/frh04.h5.tar.gz").read_bytes()
    cut = len(archive) // 2
    remote.cut_once["/2017/L1C/frh04.h5.tar.gz"] = cut
    with pytest.raises(DownloadError, match=rf"transfer interrupted after {cut} of {len(archive)} "
                                            r"bytes; run again to resume"):
        download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=False,
                             expected_h5_size=remote.h5_size, geometry=False)
    assert (root / "2017/L1C/frh04.h5.tar.gz.part").stat().st_size == cut
    download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=False,
                         expected_h5_size=remote.h5_size, geometry=False)
    assert remote.requests[-1] == ("/2017/L1C/frh04.h5.tar.gz", f"bytes={cut}-")
    assert (root / "2017/L1C/frh04.h5").stat().st_size == remote.h5_size


def test_size_mismatch(remote, tmp_path):
    root = tmp_path / "bc"
    wrong = remote.h5_size + 1
    with pytest.raises(DownloadError, match=rf"frh04\.h5: size mismatch after extraction: expected "
                                            rf"{wrong} bytes, got {remote.h5_size}"):
        download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=False,
                             expected_h5_size=wrong)
    assert not (root / "2017/L1C/frh04.h5").exists()


def test_part_larger_than_remote_is_discarded(remote, tmp_path):
    root = tmp_path / "bc"
    size = (remote.directory / "codes.csv").stat().st_size
    root.mkdir()
    (root / "codes.csv.part").write_bytes(b"x" * (size + 10))
    with pytest.raises(DownloadError, match=rf"refused to resume codes\.csv\.part \({size + 10} "
                                            rf"bytes, remote {size}\)"):
        download_breizhcrops(root, "frh04", base_url=remote.base_url, progress=False)
    assert not (root / "codes.csv.part").exists()


def test_missing_remote_file(remote, tmp_path):
    with pytest.raises(DownloadError, match=r"/2017/L1C/nowhere\.csv: HTTP 404"):
        download_breizhcrops(tmp_path / "bc", "nowhere", base_url=remote.base_url, progress=False)


def test_unreachable_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"^cannot reach 127\.0\.0\.1:{port}: are you offline\?"):
        download_breizhcrops(tmp_path / "bc", "frh04", base_url=f"http://127.0.0.1:{port}",
                             progress=False)

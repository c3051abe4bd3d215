"""Build the dovesnap container image here, where no image registry can be reached.

The base is a Debian tree made with debootstrap from the apt mirror this host already uses and
turned into an image with ``docker import``; it is kept between runs (built only when missing).
The dovesnap image is then built FROM it out of a scratch build context holding the source tree
and the CA certificates this host added locally (so pip trusts the same TLS as the host does).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.integration.rig import DOCKER, ROOT, run

BASE_IMAGE = "dovesnap-test-debian:bookworm"
SUITE = "bookworm"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
# What the Dockerfile needs from the source tree; nothing else goes into the build context.
CONTEXT_FILES = ("Dockerfile", "pyproject.toml", "README.md", "dovesnap", "docker")


class MirrorUnreachable(Exception):
    """debootstrap could not download from the mirror (the test skips with this reason)."""


def _deb822_mirrors(text: str) -> list[str]:
    found: list[str] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and SUITE in fields.get("suites", "").split():
            found += fields.get("uris", "").split()
    return found


def _one_line_mirrors(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("[") and not w.endswith("]")]
        if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
            found.append(words[1])
    return found


def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian archive (not the security archive) this host's apt sources name for bookworm."""
    candidates: list[str] = []
    one_line = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            candidates += _one_line_mirrors(path.read_text(errors="replace"))
    for path in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        candidates += _deb822_mirrors(path.read_text(errors="replace"))
    for uri in candidates:
        if "security" not in uri:
            return uri.rstrip("/")
    return FALLBACK_MIRROR


def image_exists(image: str) -> bool:
    return run([DOCKER, "image", "inspect", image], check=False).returncode == 0


def ensure_base_image(image: str = BASE_IMAGE) -> str:
    """Build the Debian base image unless it is cached; return its name."""
    if image_exists(image):
        return image
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise AssertionError("debootstrap is not installed: run scripts/deps.sh --test")
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(prefix="dovesnap-debootstrap-") as tmp:
        tree = Path(tmp, "rootfs")
        result = run([debootstrap, "--variant=minbase", SUITE, str(tree), mirror],
                     check=False, timeout=1200)
        if result.returncode != 0:
            log_file = tree / "debootstrap" / "debootstrap.log"
            detail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
            text = result.stderr + result.stdout + detail
            if any(sign in text for sign in ("Failed getting release file", "Couldn't download",
                                              "Temporary failure resolving", "Could not resolve")):
                raise MirrorUnreachable(f"debootstrap cannot reach {mirror}: {text[-400:]}")
            raise AssertionError(f"debootstrap {SUITE} from {mirror} failed:\n{text[-3000:]}")
        # Like the official Debian images: no daemon is started by package scripts at build time.
        policy = tree / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.rmtree(tree / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([DOCKER, "import", "-", image], stdin=tar.stdout,
                                  capture_output=True, text=True, check=False)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise AssertionError(f"docker import failed: {imported.stderr}")
    return image


def build_context(dest: Path, source: Path = ROOT, ca_dir: Path = LOCAL_CA_DIR) -> Path:
    """Copy what the Dockerfile needs, plus this host's locally added CAs, into ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in CONTEXT_FILES:
        item = source / name
        if item.is_dir():
            shutil.copytree(item, dest / name, ignore=ignore)
        else:
            shutil.copy2(item, dest / name)
    certs = dest / "docker" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    for cert in sorted(ca_dir.glob("*.crt")) if ca_dir.is_dir() else []:
        shutil.copy2(cert, certs / f"host-{cert.name}")
    return dest


def image_id(image: str) -> str:
    result = run([DOCKER, "image", "inspect", "-f", "{{.Id}}", image], check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def build_image(tag: str, base: str, extra_args: Sequence[str] = ()) -> None:
    """``docker build`` the dovesnap image FROM ``base`` (minutes the first time).

    The build stage is tagged too (``<tag>-build``) so that it stays the layer cache of the next
    build, and the images these tags named before are removed once replaced: repeated runs
    keep one copy on disk rather than one per change of the source.
    """
    name, _, version = tag.partition(":")
    tags = {f"{name}-build:{version or 'latest'}": ["--target", "build"], tag: []}
    with tempfile.TemporaryDirectory(prefix="dovesnap-context-") as tmp:
        context = build_context(Path(tmp))
        for each, target in tags.items():
            before = image_id(each)
            result = run([DOCKER, "build", "--build-arg", f"BASE_IMAGE={base}", *target,
                          "-t", each, *extra_args, str(context)], check=False, timeout=1800)
            if result.returncode != 0:
                raise AssertionError(
                    f"docker build failed:\n{(result.stdout + result.stderr)[-4000:]}")
            if before and before != image_id(each):
                run([DOCKER, "image", "rm", before], check=False)

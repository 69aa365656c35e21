"""What the emulated package manager can tell about an APK, and a builder of test APKs.

An APK is a zip. The emulated ``pm`` reads, as Android's parser does:

- ``AndroidManifest.xml``: binary AXML (what aapt2 writes into every real APK) or, for
  test fixtures, plain-text XML (a real phone would reject that; see docs/emulator.md):
  ``package``, ``android:versionCode``, ``android:versionName``, ``android:testOnly``,
  ``<uses-sdk android:minSdkVersion android:targetSdkVersion>``, ``<application
  android:debuggable>``;
- the native ABIs: the ``lib/<abi>/`` directories (none: any ABI);
- the signer: the first certificate of the APK Signature Scheme v2/v3 block (real APKs),
  else the bytes of a v1 ``META-INF/*.RSA|*.DSA|*.EC`` entry. Signatures are NOT verified.

``build_apk`` makes the smallest APK the emulated phone accepts (for tests and rehearsals).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import struct
import zipfile
from xml.etree import ElementTree

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
# android.R.attr ids, for AXML files whose attribute names were stripped.
_ATTR_IDS = {0x0101021B: "versionCode", 0x0101021C: "versionName", 0x0101020C: "minSdkVersion",
             0x01010270: "targetSdkVersion", 0x01010272: "testOnly", 0x0101000F: "debuggable"}
_V2_IDS = (0x7109871A, 0xF05368C0, 0x1B93AD61)   # v2, v3, v3.1


class ApkError(Exception):
    """``code`` is the PackageManager constant (INSTALL_PARSE_FAILED_NOT_APK...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class ApkInfo:
    package: str
    version_code: int
    version_name: str | None
    min_sdk: int = 1
    target_sdk: int = 1
    test_only: bool = False
    debuggable: bool = False
    abis: tuple = ()
    signer: str | None = None


# -- reading -----------------------------------------------------------------------------------
def read_apk(data: bytes, path: str) -> ApkInfo:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ApkError("INSTALL_PARSE_FAILED_NOT_APK", f"Failed to parse {path}: Failed to load asset path {path}") \
            from None
    if "AndroidManifest.xml" not in names:
        raise ApkError("INSTALL_PARSE_FAILED_BAD_MANIFEST",
                       f"Failed to parse {path}: java.io.FileNotFoundException: AndroidManifest.xml")
    raw = z.read("AndroidManifest.xml")
    try:
        attrs = _axml_attrs(raw) if raw[:4] == b"\x03\x00\x08\x00" else _text_attrs(raw)
    except (ValueError, struct.error, ElementTree.ParseError, IndexError, UnicodeDecodeError) as e:
        raise ApkError("INSTALL_PARSE_FAILED_BAD_MANIFEST", f"Failed to parse {path}: {e}") from None
    package = attrs.get("manifest.package")
    if not package or not re.match(r"[A-Za-z][\w]*(\.[A-Za-z][\w]*)+$", package):
        raise ApkError("INSTALL_PARSE_FAILED_BAD_MANIFEST", f"Failed to parse {path}: <manifest> has no valid package")
    abis = tuple(sorted({n.split("/")[1] for n in names if n.startswith("lib/") and n.count("/") >= 2}))
    signer = _v2_signer(data)
    if signer is None:
        certs = [n for n in names if re.match(r"META-INF/[^/]+\.(RSA|DSA|EC)$", n, re.I)]
        if certs:
            signer = hashlib.sha256(z.read(certs[0])).hexdigest()
    if signer is None:
        raise ApkError("INSTALL_PARSE_FAILED_NO_CERTIFICATES",
                       f"Package {path} has no certificates at entry AndroidManifest.xml")
    return ApkInfo(package=package, version_code=_int(attrs.get("manifest.versionCode"), 0),
                   version_name=attrs.get("manifest.versionName"),
                   min_sdk=_int(attrs.get("uses-sdk.minSdkVersion"), 1),
                   target_sdk=_int(attrs.get("uses-sdk.targetSdkVersion"), _int(attrs.get("uses-sdk.minSdkVersion"), 1)),
                   test_only=_bool(attrs.get("manifest.testOnly")),
                   debuggable=_bool(attrs.get("application.debuggable")), abis=abis, signer=signer)


def _int(v, default: int) -> int:
    try:
        return int(str(v), 0)
    except (TypeError, ValueError):
        return default


def _bool(v) -> bool:
    return str(v).lower() in ("true", "1", "-1", "0xffffffff")


def _text_attrs(raw: bytes) -> dict:
    root = ElementTree.fromstring(raw)
    out = {}
    for el in [root] + list(root.iter()):
        tag = el.tag
        for k, v in el.attrib.items():
            out[f"{tag}.{k.replace(ANDROID_NS, '')}"] = v
    return out


def _axml_attrs(raw: bytes) -> dict:
    """Attributes of <manifest>, <uses-sdk> and <application> from a binary AXML manifest."""
    strings: list[str] = []
    res_ids: list[int] = []
    out: dict = {}
    pos = 8
    while pos + 8 <= len(raw):
        ctype, hsize, csize = struct.unpack_from("<HHI", raw, pos)
        if csize < 8:
            raise ValueError("bad AXML chunk")
        if ctype == 0x0001:
            count, _styles, flags, start, _ = struct.unpack_from("<IIIII", raw, pos + 8)
            utf8 = bool(flags & 0x100)
            offsets = struct.unpack_from(f"<{count}I", raw, pos + hsize)
            for off in offsets:
                p = pos + start + off
                if utf8:
                    n = raw[p]
                    p += 2 if n & 0x80 else 1
                    n = raw[p]
                    if n & 0x80:
                        n = ((n & 0x7F) << 8) | raw[p + 1]
                        p += 1
                    strings.append(raw[p + 1:p + 1 + n].decode("utf-8", "replace"))
                else:
                    n = struct.unpack_from("<H", raw, p)[0]
                    p += 2
                    if n & 0x8000:
                        n = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", raw, p)[0]
                        p += 2
                    strings.append(raw[p:p + 2 * n].decode("utf-16-le", "replace"))
        elif ctype == 0x0180:
            res_ids = list(struct.unpack_from(f"<{(csize - hsize) // 4}I", raw, pos + hsize))
        elif ctype == 0x0102:
            name_idx = struct.unpack_from("<I", raw, pos + 20)[0]
            attr_start, attr_size, attr_count = struct.unpack_from("<HHH", raw, pos + 24)
            tag = strings[name_idx]
            for k in range(attr_count):
                a = pos + 16 + attr_start + k * attr_size
                _ns, name, raw_value, _sz, _r, dtype, data = struct.unpack_from("<IIIHBBI", raw, a)
                aname = strings[name] if name < len(strings) else ""
                if name < len(res_ids) and res_ids[name] in _ATTR_IDS:
                    aname = _ATTR_IDS[res_ids[name]]
                if raw_value != 0xFFFFFFFF:
                    value = strings[raw_value]
                elif dtype == 0x03:
                    value = strings[data]
                elif dtype == 0x12:
                    value = "true" if data else "false"
                else:
                    value = str(struct.unpack("<i", struct.pack("<I", data))[0])
                out[f"{tag}.{aname}"] = value
        pos += csize
    return out


def _v2_signer(data: bytes) -> str | None:
    """sha256 of the first signer's first certificate in the APK Signing Block (v2/v3)."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if eocd < 0 or eocd + 20 > len(data):
        return None
    cd_offset = struct.unpack_from("<I", data, eocd + 16)[0]
    if cd_offset < 32 or data[cd_offset - 16:cd_offset] != b"APK Sig Block 42":
        return None
    size = struct.unpack_from("<Q", data, cd_offset - 24)[0]
    pos, end = cd_offset - size - 8 + 8, cd_offset - 24
    try:
        while pos + 12 <= end:
            length, pair_id = struct.unpack_from("<QI", data, pos)
            if pair_id in _V2_IDS:
                v = pos + 12
                v += 4                                  # signers sequence length
                v += 4                                  # first signer length
                v += 4                                  # signed data length
                digests = struct.unpack_from("<I", data, v)[0]
                v += 4 + digests
                v += 4                                  # certificates sequence length
                cert_len = struct.unpack_from("<I", data, v)[0]
                return hashlib.sha256(data[v + 4:v + 4 + cert_len]).hexdigest()
            pos += 8 + length
    except struct.error:
        return None
    return None


# -- building test APKs -------------------------------------------------------------------------
def build_apk(package: str, version_code: int, version_name: str, *, min_sdk: int = 24, target_sdk: int = 35,
              test_only: bool = False, debuggable: bool = False, abis: tuple = ("arm64-v8a", "x86_64"),
              signer: str = "harness-release-key", payload: bytes = b"") -> bytes:
    """A zip the emulated ``pm`` accepts as the APK described (text manifest, v1-style cert entry).

    ``payload`` changes the APK's bytes (and sha256) without changing its identity: a
    rebuilt app with the same versionCode."""
    manifest = (f'<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="{package}" '
                f'android:versionCode="{version_code}" android:versionName="{version_name}"'
                + (' android:testOnly="true"' if test_only else "") + ">\n"
                f'  <uses-sdk android:minSdkVersion="{min_sdk}" android:targetSdkVersion="{target_sdk}"/>\n'
                f'  <application android:debuggable="{str(debuggable).lower()}"/>\n</manifest>\n')
    buf = io.BytesIO()
    entries = [("AndroidManifest.xml", manifest.encode()), ("classes.dex", b"dex\n035\0" + payload),
               *((f"lib/{abi}/libharness_stub.so", b"\x7fELF stub") for abi in abis),
               ("META-INF/CERT.RSA", ("certificate of " + signer).encode())]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            # A fixed timestamp: the same arguments give the same bytes (writestr would stamp
            # the current time, so two test workers collecting a second apart saw different
            # parameters and pytest-xdist refused the session).
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()

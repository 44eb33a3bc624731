"""`tpython trust keygen | manifest | stamp | check` (SPEC 1)."""
from __future__ import annotations

import sys
from typing import Optional, Sequence, TextIO

from tpython.integrity import checks, keys, manifest, xattrs
from tpython.integrity.walk import code_files


def trust_keygen(prefix: str, out: TextIO = sys.stdout) -> int:
    """Write PREFIX.key and PREFIX.pub."""
    private, public = keys.keygen(prefix)
    print(f"wrote {private} (private: keep it off the machines that run code) and {public}", file=out)
    return 0


def trust_manifest(paths: Sequence[str], out_path: str, sign: Optional[str], all_files: bool,
                   out: TextIO = sys.stdout) -> int:
    """Hash every code file under PATHS into a manifest, optionally signed."""
    progress = manifest.terminal_progress()
    files = manifest.build(paths, all_files=all_files, progress=progress)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    sig = manifest.write(out_path, files, sign_with=sign)
    print(f"wrote {out_path}: {len(files)} files" + (f", signed ({sig})" if sig else ", unsigned"), file=out)
    return 0


def trust_stamp(paths: Sequence[str], all_files: bool, verbose: bool, out: TextIO = sys.stdout) -> int:
    """Stamp the spython xattr on every code file under PATHS."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    try:
        for path, what in xattrs.stamp(paths, all_files=all_files):
            counts[what] += 1
            if verbose and what != "unchanged":
                print(f"{what}: {path}", file=out)
    except OSError as exc:
        from tpython.integrity.errors import IntegrityError

        raise IntegrityError(f"cannot stamp {exc.filename}: {exc.strerror}") from None
    print(f"stamped {counts['added']} new, {counts['updated']} updated, {counts['unchanged']} unchanged "
          f"({xattrs.XATTR_NAME})", file=out)
    return 0


def trust_check(paths: Sequence[str], manifest_path: Optional[str], pubkey: Optional[str], use_xattr: bool,
                all_files: bool, out: TextIO = sys.stdout) -> int:
    """Check every code file under PATHS; print each failure with its reason; 1 when any fails."""
    loaded = manifest.load(manifest_path, pubkey) if manifest_path else None
    config = checks.config(manifest=loaded, xattr=use_xattr, require=bool(loaded or use_xattr))
    sources = checks.source_names(config)
    checked = failed = 0
    for path in code_files(paths, all_files=all_files):
        checked += 1
        try:
            verdict = checks.check_file(path, config)
        except OSError as exc:
            failed += 1
            print(f"FAIL {path}: cannot be read: {exc.strerror}", file=out)
            continue
        if not verdict.ok:
            failed += 1
            print(f"FAIL {verdict.path}: {verdict.reason}", file=out)
    what = " and ".join(sources) if sources else "file checks only (no trust source given)"
    print(f"{checked} files checked against {what}: {failed} failed", file=out)
    return 1 if failed else 0

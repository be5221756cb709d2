"""No file of the repository refers to a document that is not in the repository: Markdown
links and image paths resolve, and every document named in prose or code (a Markdown file,
a notebook, a reStructuredText page) exists somewhere in the repository."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT = {".md", ".py", ".sh", ".toml", ".ipynb", ".txt", ".rst", ".cfg", ".yml", ".yaml", ".json", ""}
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # Markdown links and images
DOCUMENT = re.compile(r"(?<![\w/.-])((?:\.\./|[\w.-]+/)*[\w.-]+\.(?:md|ipynb|rst))\b")


def repository_files() -> list[Path]:
    """Tracked files and new ones not ignored by git (what a commit would hold)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [ROOT / p for p in out.splitlines() if (ROOT / p).is_file()]


def dangling(files: list[Path], root: Path = ROOT) -> list[str]:
    names = {p.name for p in files}
    found = []
    for path in files:
        if path.suffix not in TEXT or path.stat().st_size > 2_000_000 or path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        where = path.relative_to(root)
        for target in LINK.findall(text) if path.suffix in {".md", ".ipynb"} else []:
            if re.match(r"[a-z]+:|#|<|\{", target):  # URLs, anchors, templates
                continue
            local = target.split("#")[0]
            if local and not (path.parent / local).exists():
                found.append(f"{where}: link to {target}")
        for doc in DOCUMENT.findall(text):
            if not ((path.parent / doc).exists() or (root / doc).exists() or Path(doc).name in names):
                found.append(f"{where}: mentions {doc}")
        if re.search(r"\.\./shared\b|/work/shared", text):
            found.append(f"{where}: refers to a folder outside the repository")
    return found


def test_no_reference_to_a_document_outside_the_repository():
    files = repository_files()
    assert len(files) > 50
    assert dangling(files) == []


def test_the_check_finds_dangling_references(tmp_path):
    """The checker itself: a missing link target, a named document that does not exist and a
    path outside the repository are reported; existing ones are not."""
    (tmp_path / "docs").mkdir()
    ok = tmp_path / "docs" / "page.md"
    ok.write_text("[home](../README.md) and ![pic](img.png) and see README.md, https://x.org/a.md\n")
    (tmp_path / "docs" / "img.png").write_bytes(b"")
    (tmp_path / "README.md").write_text("# readme\n")
    bad = tmp_path / "notes.md"
    bad.write_text("The model (NOTES.md §2); [guide](docs/missing.md); ../shared/x\n")
    found = dangling([ok, tmp_path / "README.md", bad], tmp_path)
    assert found == ["notes.md: link to docs/missing.md", "notes.md: mentions NOTES.md",
                     "notes.md: mentions docs/missing.md", "notes.md: refers to a folder outside the repository"]

"""The documentation stays true: its Python runs, its command lines parse.

Three checks over ``README.md`` and ``docs/*.md`` (the command lines also over
``benchmarks/RESULTS.md``), one pytest case per block or command line, its id ``file:line``
(the line of a block's opening fence, or of the command line).

**Python blocks.** Every fenced ``python`` block runs with ``exec`` in a fresh namespace, with a
fresh ``tmp_path`` as working directory, so the files a block writes (``toy_out/``,
``runs/notebook``, ``sixteen.png``, ...) land there and never in the repository. A traceback
points at the line of the Markdown file. Blocks that would train for minutes are shortened by
the ``shortened`` fixture, never by editing the docs: for the duration of the block it
monkeypatches

- ``minigan.train.Trainer.fit``: each call runs at most ``FIT_ITERS`` iterations past the
  current one (``max_iters`` becomes ``min(max_iters, iteration + FIT_ITERS)``);
- ``minigan.lab.ToyGAN.train`` and ``minigan.lab.run_toy``: ``steps`` at most ``TOY_STEPS``;
- ``minigan.data.load_dataset`` (under every name a ``minigan`` module binds it to, such as
  ``minigan.train.load_dataset``, which ``Trainer``'s ``load_images`` calls): ``SYNTH_IMAGES``
  random ``uint8`` images ``(N, 28, 28)`` with labels 0-9, whatever the dataset or split asked
  for; ``minigan.data.download_dataset`` raises, so no test downloads anything, and no test
  needs Fashion-MNIST.

Afterwards it puts back the selected backend and the generator ``minigan.seed`` resets, and
closes matplotlib's figures (it sets ``MPLBACKEND=Agg``).

Limits: only those entry points are shortened. A block that loops itself
(``for _ in range(5000): train_step(...)``), calls another long function (``minigan.lab``'s
``check_value``, ``mode_collapse_runs``, ...) or reads data another way (``read_idx`` on a file)
runs in full: shorten it here, next to the others, when a doc grows one. A block's printed
numbers come from the shortened run, so no block may assert what a full run reaches. A name
bound outside ``minigan`` before the test (``benchmarks/``) is not patched.

Skips, each with its reason: a block whose run fails for want of an optional package
(``OPTIONAL``: matplotlib, Pillow, ...; found in the exception's chain, as ``minigan.viz``
wraps it) skips naming it; a block that names the ``cupy`` backend skips unless CuPy sees a
CUDA device (``REQUIRES``). A block not meant to run goes in ``NOT_RUN`` with the reason;
nothing else is skipped, so pseudo-code or shell in a ``python`` fence fails (a
``SyntaxError`` at its line) until it is fixed or listed there.

**``minigan`` command lines**, in fences other than ``python`` (``bash``, ``console``: only its
``$`` lines, plain) and in inline code: each shell command whose program is ``minigan``
(after ``&&``, ``|``, ``;``, ``VAR=...`` and ``env -u ...``) is checked against
``minigan.cli.build_parser()`` without running it. The subcommand path must exist (``lab``'s
checks included), and every ``-flag`` must be an option string of the parser it reaches
(spelled in full: argparse's prefix matching is not accepted). A line without placeholders is
then parsed by argparse as a whole, so values, choices and required arguments count too. A
line with placeholders (``RUN_DIR``, ``FILE.npy|FILE.png``, ``N``, ``<command>``, ``...``)
has its subcommand and flags checked only; a placeholder subcommand's flags must be accepted
by every command. A bare ``minigan train`` names the command and is checked for that only;
argparse's own error output quoted in the docs (``minigan train: error: ...``) is not a
command.

**Benchmark command lines** (``python benchmarks/X.py ...``, and the measurement scripts of
the docs, ``python docs/scripts/X.py ...``): a script that defines
``parse_args(argv)`` is imported (``benchmarks/`` on ``sys.path``; importing runs nothing) and
``parse_args`` is called on the line's arguments, with ``gpu_common.select_backends`` returning
the backends asked for, since a CUDA device or its absence is the machine's business, not the
doc's. A script without ``parse_args`` (``torch_train.py``, which parses inside ``main``) has
its flags checked against the option strings of its ``add_argument`` calls, read from its
source.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import io
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from devices import cupy_runs_here  # tests/devices.py

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_DOCS = [*DOCS, ROOT / "benchmarks" / "RESULTS.md"]
BENCH = ROOT / "benchmarks"

FIT_ITERS = 2  # Trainer.fit: iterations per call
TOY_STEPS = 20  # ToyGAN.train, run_toy: steps per call
SYNTH_IMAGES = 768  # load_dataset: 3 batches of 256, so fit(max_iters) stops inside an epoch

#: Packages whose absence skips a block that needs them (the [plot], [numba], [cuda] extras).
OPTIONAL = ("matplotlib", "PIL", "threadpoolctl", "numba", "cupy")

#: (doc file relative to the root, a string the block contains) -> why it is not run.
NOT_RUN: dict[tuple[str, str], str] = {}

PYTHON_LANGS = ("python", "py", "python3")
PLACEHOLDER = re.compile(r"<[^>]*>|\.\.\.|\||\b[A-Z][A-Z0-9_]*\b")
ARGPARSE_ERROR = re.compile(r"\bminigan(?: [\w-]+)*: error:")
SEPARATORS = {"&&", "||", "|", ";", "{", "}", "(", ")", "!"}


#: (regex a block matches, the check, the skip reason when the check fails).
REQUIRES: list[tuple[str, Callable[[], bool], str]] = [
    (r"""["']cupy["']""", cupy_runs_here, "needs CuPy and a CUDA device (the cupy backend)"),
]


# --- reading the Markdown -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def code(self) -> str:
        return "\n".join(self.lines) + "\n"


def read_markdown(path: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of ``path``, and its lines with the fenced ones blanked out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, prose = [], list(lines)
    i = 0
    while i < len(lines):
        opening = re.match(r"^( *)(`{3,}|~{3,})\s*([^`\s]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = len(opening[1]), opening[2], opening[3].lower()
        closing = re.compile(rf"^ *{fence[0]}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            j += 1
        body = tuple(
            line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : j]
        )
        blocks.append(Block(path, i + 1, lang, body))
        for k in range(i, min(j + 1, len(lines))):
            prose[k] = ""
        i = j + 1
    return blocks, prose


def python_blocks() -> list[Block]:
    return [b for path in DOCS for b in read_markdown(path)[0] if b.lang in PYTHON_LANGS]


# --- finding command lines ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    where: str
    text: str  # the shell line as written
    program: str  # "minigan" or the benchmark script's path
    args: tuple[str, ...]


def shell_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every shell line of ``path``: fenced lines outside ``python`` blocks
    (``$`` lines only in ``console`` blocks; continuations joined) and inline code spans."""
    blocks, prose = read_markdown(path)
    for block in blocks:
        if block.lang in PYTHON_LANGS:
            continue
        pending, start = "", 0
        for k, line in enumerate(block.lines, block.line + 1):
            if block.lang in ("console", "shell-session") and not pending:
                if not line.startswith("$ "):
                    continue
            if not pending:
                start = k
            line = re.sub(r"^\$ ", "", line) if not pending else line
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            yield start, pending + line
            pending = ""
    text = "\n".join(prose)
    for span in re.finditer(r"(?<!`)(`+)(?!`)((?:(?!\n\s*\n).)+?)(?<!`)\1(?!`)", text, re.DOTALL):
        yield text.count("\n", 0, span.start()) + 1, span[2].replace("\n", " ").strip()


def simple_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell line (split at ``&&``, ``||``, ``|``, ``;``, braces),
    each without its ``VAR=value`` and ``env ...`` prefix. A line shlex cannot split is
    returned whole, split at whitespace."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = text.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        end = token.endswith(";") and token != ";"
        token = token.rstrip(";") if end else token
        if token in SEPARATORS:
            commands.append([])
        elif token:
            commands[-1].append(token)
        if end:
            commands.append([])
    out = []
    for words in commands:
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            words = words[1:]
        if words and words[0] == "env":
            words = words[1:]
            while words and (words[0].startswith("-") or "=" in words[0]):
                words = words[2:] if words[0] in ("-u", "--unset") else words[1:]
        if words:
            out.append(words)
    return out


def find_commands(docs: list[Path]) -> tuple[list[Command], list[Command]]:
    """The ``minigan`` and the ``python benchmarks/...`` (or ``docs/scripts/...``) command lines
    of ``docs``."""
    minigan, bench = [], []
    for path in docs:
        name = path.relative_to(ROOT).as_posix()
        for line, text in shell_lines(path):
            if not re.search(r"(?<![\w./\[-])minigan\s|(benchmarks|docs/scripts)/\S+\.py", text):
                continue
            if ARGPARSE_ERROR.search(text):
                continue  # argparse's error output quoted in the docs
            for words in simple_commands(text):
                program = Path(words[0]).name
                if program == "minigan":
                    minigan.append(Command(f"{name}:{line}", text, "minigan", tuple(words[1:])))
                elif re.fullmatch(r"python[\d.]*", program) and len(words) > 1:
                    if re.fullmatch(r"(\./)?(benchmarks|docs/scripts)/\S+\.py", words[1]):
                        bench.append(Command(f"{name}:{line}", text, words[1], tuple(words[2:])))
    return minigan, bench


MINIGAN_COMMANDS, BENCH_COMMANDS = find_commands(COMMAND_DOCS)


def _id(item: Block | Command) -> str:
    return item.where


# --- running the Python blocks --------------------------------------------------------------


def _patch_everywhere(monkeypatch: pytest.MonkeyPatch, original, replacement) -> None:
    """Replace ``original`` by ``replacement`` under every name a loaded minigan module has
    for it (``from x import f`` binds a second name)."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "minigan" or name.startswith("minigan.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attr, replacement)


def _capped(function: Callable, argument: str, cap: int) -> Callable:
    """``function`` with its ``argument`` lowered to at most ``cap``."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        bound.arguments[argument] = min(bound.arguments[argument], cap)
        return function(*bound.args, **bound.kwargs)

    return wrapper


def synthetic_dataset(name_or_dir=None, split="train", data_dir=None, download=True):
    """``SYNTH_IMAGES`` random uint8 images (N, 28, 28) and labels, in place of any dataset."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (SYNTH_IMAGES, 28, 28), dtype=np.uint8)
    return images, rng.integers(0, 10, SYNTH_IMAGES, dtype=np.uint8)


def _no_download(*args, **kwargs):
    raise RuntimeError("tests/test_docs.py: a doc block tried to download a dataset")


@pytest.fixture
def shortened(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Run a doc block short and in ``tmp_path`` (see the module docstring)."""
    import minigan
    import minigan.data
    import minigan.lab
    import minigan.random
    import minigan.train
    import minigan.viz  # loaded, so that every binding below is patched
    from minigan import backend

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(backend, "_active", backend._active)  # restored after the block
    monkeypatch.setattr(minigan.random, "_global_rng", minigan.random._global_rng)

    trainer = minigan.train.Trainer
    fit = trainer.fit

    @functools.wraps(fit)
    def short_fit(self, max_iters=None):
        cap = self.iteration + FIT_ITERS
        return fit(self, cap if max_iters is None else min(max_iters, cap))

    monkeypatch.setattr(trainer, "fit", short_fit)
    toy = minigan.lab.ToyGAN
    monkeypatch.setattr(toy, "train", _capped(toy.train, "steps", TOY_STEPS))
    run_toy = minigan.lab.run_toy
    _patch_everywhere(monkeypatch, run_toy, _capped(run_toy, "steps", TOY_STEPS))
    _patch_everywhere(monkeypatch, minigan.data.load_dataset, synthetic_dataset)
    _patch_everywhere(monkeypatch, minigan.data.download_dataset, _no_download)
    try:
        yield tmp_path
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def _missing_optional(exc: BaseException | None) -> str | None:
    """The optional package whose absence caused ``exc`` (anywhere in its chain), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in OPTIONAL:
            return exc.name
        exc = exc.__cause__ or exc.__context__
    return None


def _not_run_reason(block: Block) -> str | None:
    name = block.path.relative_to(ROOT).as_posix()
    for (doc, needle), reason in NOT_RUN.items():
        if doc == name and needle in block.code:
            return reason
    return None


@pytest.mark.parametrize("block", python_blocks(), ids=_id)
def test_python_block_runs(block: Block, shortened: Path) -> None:
    reason = _not_run_reason(block)
    if reason:
        pytest.skip(f"{block.where}: not run: {reason}")
    for pattern, check, why in REQUIRES:
        if re.search(pattern, block.code) and not check():
            pytest.skip(f"{block.where}: {why}")
    # blank lines first, so that line numbers in a traceback are the Markdown file's
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    try:
        exec(code, {"__name__": "__doc_block__"})
    except ImportError as exc:
        missing = _missing_optional(exc)
        if missing is None:
            raise
        package = {"PIL": "Pillow"}.get(missing.split(".")[0], missing)
        pytest.skip(f"{block.where}: needs {package}, which is not installed")


def test_the_docs_have_python_blocks_and_commands() -> None:
    """The scan finds something: an empty parametrization would pass silently."""
    assert python_blocks(), "no ```python block found"
    assert MINIGAN_COMMANDS, "no minigan command line found"
    assert BENCH_COMMANDS, "no python benchmarks/... command line found"


# --- checking the minigan command lines -----------------------------------------------------


@functools.cache
def minigan_parser():
    from minigan.cli import build_parser

    return build_parser()


def _subparsers(parser) -> dict | None:
    """The subcommands of ``parser`` by name, or None when it has none."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return None


def _flag(token: str) -> str | None:
    """The option string a token uses (``--out=x`` -> ``--out``), or None for a value."""
    if not token.startswith("-") or token == "-" or re.match(r"^-\d", token):
        return None
    return token.split("=", 1)[0]


def _placeholder(token: str) -> bool:
    return bool(PLACEHOLDER.search(token))


def _bad_flags(parser, tokens: list[str], where: str) -> list[str]:
    return [
        f"{flag!r} is not a flag of {where} (its flags: {sorted(parser._option_string_actions)})"
        for flag in map(_flag, tokens)
        if flag is not None and flag not in parser._option_string_actions
    ]


@pytest.mark.parametrize("command", MINIGAN_COMMANDS, ids=_id)
def test_minigan_command_line_parses(command: Command) -> None:
    args = list(command.args)
    parser, path, problems, i = minigan_parser(), "minigan", [], 0
    named_only = len(args) <= 1  # `minigan train`, `minigan sample`: the command named
    while (choices := _subparsers(parser)) is not None:
        j = i
        while j < len(args) and _flag(args[j]) is not None:
            j += 1
        problems += _bad_flags(parser, args[i:j], path)
        i = j
        if i == len(args):
            named_only = True  # `minigan lab`: the command named, its check left open
            break
        name, i = args[i], i + 1
        if name in choices:
            parser, path = choices[name], f"{path} {name}"
        elif _placeholder(name):  # `minigan <command> --help`: a flag of every command
            for sub, subparser in choices.items():
                problems += _bad_flags(subparser, args[i:], f"{path} {sub}")
            i = len(args)
            break
        else:
            problems.append(f"{path} has no subcommand {name!r} (it has {sorted(choices)})")
            i = len(args)
            break
    problems += _bad_flags(parser, args[i:], path)
    assert not problems, f"{command.where}: {command.text}\n" + "\n".join(problems)
    if named_only or any(map(_placeholder, args)) or {"-h", "--help"} & set(args):
        return  # flags checked; values and required arguments not
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            minigan_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(
            f"{command.where}: {command.text}\nargparse refuses it (exit {exc.code}): "
            f"{stderr.getvalue().strip().splitlines()[-1:]}"
        )


# --- checking the benchmark command lines ---------------------------------------------------


def _script_flags(script: Path) -> set[str]:
    """The option strings of every ``add_argument`` call in ``script``'s source."""
    flags = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("-"):
                    flags.add(arg.value)
    return flags | {"-h", "--help"}


def _defines_parse_args(script: Path) -> bool:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == "parse_args" for n in tree.body)


@pytest.mark.parametrize("command", BENCH_COMMANDS, ids=_id)
def test_benchmark_command_line_parses(command: Command, monkeypatch: pytest.MonkeyPatch) -> None:
    script = ROOT / command.program.removeprefix("./")
    assert script.is_file(), f"{command.where}: {command.text}\nno script {command.program}"
    args = list(command.args)
    if not _defines_parse_args(script):
        flags = _script_flags(script)
        bad = sorted({f for f in map(_flag, args) if f is not None and f not in flags})
        assert not bad, f"{command.where}: {command.text}\n{bad} not among {sorted(flags)}"
        return
    monkeypatch.syspath_prepend(str(script.parent))
    if script.parent != BENCH:
        monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(script.stem)
    gpu_common = getattr(module, "gpu_common", None)
    if gpu_common is not None:
        monkeypatch.setattr(
            gpu_common, "select_backends", lambda parser, requested: list(requested or [])
        )
    monkeypatch.setattr(sys, "argv", [command.program])  # argparse's prog in its messages
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            module.parse_args(args)
    except SystemExit as exc:
        pytest.fail(
            f"{command.where}: {command.text}\nargparse refuses it (exit {exc.code}): "
            f"{stderr.getvalue().strip().splitlines()[-1:]}"
        )

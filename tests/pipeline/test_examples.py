"""Examples run in a separate, limited process; sessions become the script that ran."""

from __future__ import annotations

from pipeline.examples import Example, Limits, from_session, prepare, run


def script(code: str) -> Example:
    example = prepare(code, "python")
    assert example is not None
    return example


def test_a_session_becomes_the_script_that_ran_with_its_real_output() -> None:
    example = from_session(
        ">>> x = [3, 1, 2]\n>>> sorted(x)  # doctest: +SKIP\n[1, 2, 3]\n>>> x.sort()\n>>> print(x)\n[1, 2, 3]"
    )
    assert example is not None
    result = run(example)
    assert result.ok
    assert result.code == "x = [3, 1, 2]\nprint(sorted(x))\nx.sort()\nprint(x)"
    assert result.output == "[1, 2, 3]\n[1, 2, 3]"


def test_a_call_that_prints_itself_is_not_wrapped_in_print() -> None:
    example = from_session(">>> def f():\n...     print('hi')\n...\n>>> f()\nhi")
    assert example is not None
    result = run(example)
    assert result.code.splitlines()[-1] == "f()" and result.output == "hi"


def test_an_error_the_session_shows_is_caught_and_shown() -> None:
    example = from_session(">>> 1/0\nTraceback (most recent call last):\n  ...\nZeroDivisionError: division by zero")
    assert example is not None and example.shows_error
    result = run(example)
    assert result.ok and result.output == "ZeroDivisionError: division by zero"
    compile(result.code, "shown", "exec")


def test_a_failing_example_reports_its_error() -> None:
    result = run(script("print(undefined_name)"))
    assert not result.ok and result.error == "NameError: name 'undefined_name' is not defined"


def test_limits_stop_runaway_code() -> None:
    limits = Limits(wall_seconds=2, cpu_seconds=1, memory_bytes=256 * 1024 * 1024, output_bytes=1024)
    assert "CPU" in run(script("while True: pass"), limits).error
    assert run(script("x = ' ' * 10**9"), limits).error == "MemoryError"
    flood = run(script("while True: print('x' * 100)"), limits)
    assert not flood.ok and len(flood.output) <= 1024 + 20
    slept = run(script("import time\ntime.sleep(30)"), limits)
    assert slept.error == "timed out after 2 s" and slept.seconds < 5


def test_a_clean_environment_in_a_temporary_directory() -> None:
    result = run(script("import os, sys\nprint(sorted(os.environ))\nprint(os.path.basename(os.getcwd()))\n"
                        "print(sys.flags.no_user_site)"))
    names, cwd, no_user_site = result.output.splitlines()
    assert "PYTHONHASHSEED" in names and "VIRTUAL_ENV" not in names and "KNOWLEDGE_BASE" not in names
    assert cwd.startswith("example-") and no_user_site == "1"


def test_set_order_is_the_same_on_every_run() -> None:
    code = "print({'pear', 'apple', 'fig', 'kiwi'})"
    assert run(script(code)).output == run(script(code)).output


def test_only_python_is_prepared() -> None:
    assert prepare("ls -l", "text") is None
    assert prepare("import os", "python") is None  # nothing to see
    assert prepare("with EXPRESSION as TARGET:\n    SUITE", "python") is not None


def test_output_and_errors_name_no_path_of_the_server() -> None:
    """Learners see an example's output and its error (a progress line): never where the server keeps Python."""
    import sys
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    printed = run(script("import contextlib, os\nprint(contextlib.__file__)\nprint(os.getcwd())"))
    assert printed.ok and printed.output == "<stdlib>/contextlib.py\n/home/learner", printed.output
    failed = run(script("from contextlib import load_widget\nload_widget()"))
    assert not failed.ok and "(<stdlib>/contextlib.py)" in failed.error, failed.error
    warned = run(script("import warnings, json\nwarnings.warn_explicit('old', UserWarning, json.__file__, 1)"))
    assert "<stdlib>/json/__init__.py:1: UserWarning: old" in warned.output, warned.output
    for result in (printed, failed, warned):
        assert stdlib not in result.output + result.error and sys.base_prefix not in result.output + result.error


def test_a_session_shows_each_value_as_the_interpreter_does() -> None:
    example = from_session(">>> name = 'Fred'\n>>> name\n'Fred'\n>>> len(name)\n4")
    assert example is not None
    result = run(example)
    assert result.output == "'Fred'\n4", "the repr, as the interpreter shows it"
    assert result.code == "name = 'Fred'\nprint(repr(name))\nprint(len(name))", "and the code that shows it so"


def test_an_example_sees_the_command_line_of_a_script_run_without_arguments() -> None:
    """``sys.argv[1:]`` is what a script reads its arguments from: a learner running it has none."""
    result = run(script("import sys, os\nprint(sys.argv)\nprint(sys.argv[1:])\n"
                        "print([k for k in os.environ if 'REPORT' in k])"))
    assert result.ok and result.output == "['example.py']\n[]\n[]", result.output
    session = from_session(">>> import sys\n>>> for name in sys.argv[1:]:\n...     open(name)\n>>> print('done')\ndone")
    assert session is not None
    ran = run(session)
    assert ran.ok and ran.output == "done", ran.output


def test_home_and_the_working_directory_show_as_a_learners_home() -> None:
    """Not "." (``Path.home()`` never returns a relative path) and not the server's temporary directory."""
    result = run(script("from pathlib import Path\nimport os\nprint(Path.home())\nprint(Path.cwd())\n"
                        "print(repr(Path('tests').absolute()))\nprint(os.path.expanduser('~/notes.txt'))\n"
                        "print(os.path.abspath('a.txt'))"))
    assert result.ok
    assert result.output.splitlines() == [
        "/home/learner", "/home/learner", "PosixPath('/home/learner/tests')", "/home/learner/notes.txt",
        "/home/learner/a.txt",
    ], result.output
    failed = run(script("open('missing.txt')"))
    assert "No such file or directory: 'missing.txt'" in failed.error

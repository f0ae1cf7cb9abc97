"""Commands described by data: arguments declared in the registration,
parsed by the host (one usage error), described to clients; and the
plugin ABI's versioning rule both ways."""
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, Error, default_ini

HERE = Path(__file__).resolve().parent
# The ABI the plugins here are built against: "MAJOR.MINOR".
ABI = "%s.%s" % tuple(re.search(
    r"PROCCTL_ABI_MAJOR (\d+).*PROCCTL_ABI_MINOR (\d+)",
    (ROOT / "include/procctl/plugin.h").read_text(), re.S).groups())


@pytest.fixture(scope="session")
def abi_plugins(tmp_path_factory):
    out = tmp_path_factory.mktemp("abi-plugins")
    for name in ["argdemo", "oldabi"]:
        subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared",
                        "-fPIC", "-I", str(ROOT / "include"), "-o",
                        str(out / (name + ".so")),
                        str(HERE / "plugins" / (name + ".c"))], check=True)
    return out


@pytest.fixture
def demo(make_daemon, abi_plugins):
    ini = default_ini()
    for n in ["argdemo", "oldabi"]:
        ini += "\n[plugin:%s]\npath = %s/%s.so\n" % (n, abi_plugins, n)
    return make_daemon(ini)


def doc(d, name):
    c = d.raw()
    c.call("HELLO", "3")
    info = c.call("COMMAND", "INFO", name)[0]
    c.close()
    return {k.decode() if isinstance(k, bytes) else k: v
            for k, v in info.items()}


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def test_declared_arguments_parsed_by_host(demo):
    c = demo.raw()
    assert s(c.call("greet", "world")) == "hello world x1"
    assert s(c.call("greet", "MOON", "3")) == "hello moon x3"
    # A value cannot smuggle a NUL past the parser.
    r = c.call("greet", "--from", b"a\0b", "world")
    assert r.code == "ARGS" and "a value with a NUL byte" in r.text
    # Options anywhere before --, long, short, with values, combined.
    assert s(c.call("greet", "--loud", "world")) == "HELLO WORLD X1"
    assert s(c.call("greet", "world", "-l")) == "HELLO WORLD X1"
    assert s(c.call("greet", "--from=ann", "moon")) == \
        "hello moon x1 from ann"
    assert s(c.call("greet", "-f", "bob", "moon", "2")) == \
        "hello moon x2 from bob"
    assert s(c.call("greet", "-lfcy", "moon")) == "HELLO MOON X1 FROM CY"


@pytest.mark.parametrize("args,what", [
    ([], "<who> missing"),
    (["mars"], "'mars' is not one of: world, moon"),
    (["world", "x"], "times: 'x' is not an integer"),
    (["world", "1", "2"], "too many arguments ('2' and after)"),
    (["--quiet", "world"], "unknown option '--quiet'"),
    (["-q", "world"], "unknown option '-q'"),
    (["--loud=yes", "world"], "option '--loud' takes no value"),
    (["world", "--from"], "option '--from' needs a value (NAME)"),
    (["--", "--loud"], "'--loud' is not one of: world, moon"),
])
def test_one_usage_error_from_the_declaration(demo, args, what):
    r = demo.raw().call("greet", *args)
    assert isinstance(r, Error) and r.code == "ARGS", r
    assert r.text == "ARGS %s; usage: greet [--loud] [--from NAME] " \
        "<who> [times]" % what


def test_declaration_described_to_clients(demo):
    info = doc(demo, "greet")
    assert s(info["usage"]) == "greet [--loud] [--from NAME] <who> [times]"
    assert s(info["group"]) == "demo" and s(info["plugin"]) == "argdemo"
    assert info["arity"] == -2
    opts = [{s(k): s(v) for k, v in o.items()} for o in info["options"]]
    assert opts == [
        {"name": "loud", "letter": "l", "value": None,
         "summary": "shout it"},
        {"name": "from", "letter": "f", "value": "NAME",
         "summary": "say who greets"}]
    who, times = [{s(k): v for k, v in a.items()} for a in info["args"]]
    assert s(who["type"]) == "keyword" and \
        [s(w) for w in who["words"]] == ["world", "moon"]
    assert (who["min"], who["max"], who["rest"]) == (1, 1, False)
    assert s(times["type"]) == "int" and (times["min"], times["max"]) == \
        (0, 1)
    close = doc(demo, "close")
    pid = {s(k): v for k, v in close["args"][0].items()}
    comp = {s(k): v for k, v in pid["complete"].items()}
    assert s(comp["command"]) == "list"
    assert [s(x) for x in comp["fields"]] == ["name", "pid"]
    assert [s(x) for x in comp["events"]] == ["started"]
    run = doc(demo, "run")
    assert {s(k): s(v) for k, v in run["options"][0].items()}["name"] == \
        "detach"
    assert run["args"][1]["rest"] is True


def test_core_sub_commands_and_hello_words(daemon):
    c = daemon.raw()
    # HELLO's Redis-style words, any case, each with its values.
    assert c.call("HELLO", "3", "setname", "me")["proto"] == 3
    r = c.call("HELLO", "3", "SETNAME")
    assert r.code == "ARGS" and "unknown option 'SETNAME'" in r.text
    assert c.call("HELLO", "3", "bogus", "x").code == "ARGS"
    # PLUGIN's sub-commands, by their place in the declaration.
    assert {p["name"] for p in c.call("PLUGIN", "LiSt")} == {b"proc",
                                                            b"arith"}
    r = c.call("PLUGIN", "list", "x")
    assert r.code == "ARGS" and "LIST takes no name" in r.text
    r = c.call("PLUGIN", "LOAD")
    assert r.code == "ARGS" and "LOAD needs a plugin name" in r.text
    assert c.call("PLUGIN", "unload", "x").code == "ARGS"


def test_core_commands_are_declared_too(demo):
    for name in ["ping", "echo", "help", "command", "plugin", "auth",
                 "hello", "subscribe", "quit"]:
        info = doc(demo, name)
        assert info["args"] is not None, name
    assert [s(f) for f in doc(demo, "auth")["flags"]] == ["noauth"]
    assert [s(f) for f in doc(demo, "subscribe")["flags"]] == []
    c = demo.raw()
    assert c.call("PING", "a", "b").code == "ARGS"
    assert c.call("COMMAND", "bogus").code == "ARGS"


def test_rest_words_are_not_options(daemon):
    # `run ls -l`: -l belongs to the program; options stop at its path.
    r = daemon.ctl("run", "--detach", "/bin/sh", "-c", "exit 0", "-x")
    assert r.returncode == 0, r.stderr
    r = daemon.ctl("run", "--bogus", "true")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr


def test_abi_1_0_plugin_read_only_to_its_size(demo):
    c = demo.raw()
    c.call("HELLO", "3")
    # Undeclared: argv as sent, arity checked by the host.
    assert c.call("old1", "a", "--b", "c") == 4
    r = c.call("old1")
    assert r.code == "ARGS" and "usage: old1 <x> [y...]" in r.text
    assert c.call("old2") == 1
    info = doc(demo, "old1")
    assert info["args"] is None and info["options"] == []
    assert s(info["group"]) == "oldabi"
    abi = {s(p["name"]): s(p["abi"]) for p in c.call("PLUGIN", "LIST")}
    assert abi["oldabi"] == "1.0" and abi["argdemo"] == ABI

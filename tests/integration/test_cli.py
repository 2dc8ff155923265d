"""The command line: `portcullis version`, `portcullis check -c FILE` (exit 0 on a good file,
exit 1 with FILE:LINE:COL diagnostics on a bad one), `run` refusing a bad file, the exit
codes of every subcommand (0 done, 1 failed, 2 wrong command line) and unknown commands."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import HERE, base_config, gateway_bin, line_of, require_binary, route, to_yaml


def project_version() -> str:
    text = (HERE.parent.parent / "CMakeLists.txt").read_text()
    return re.search(r"project\(portcullis\s+VERSION\s+([0-9.]+)", text).group(1)


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_binary(gateway_bin())
        cls.dir = tempfile.mkdtemp(prefix="portcullis-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_cli(self, *args, timeout=20):
        return subprocess.run([gateway_bin(), *args], capture_output=True, text=True, timeout=timeout)

    def good_text(self):
        return to_yaml(base_config(18080, server={"listen": "127.0.0.1:18081"}))

    def test_version(self):
        """`portcullis version` exits 0 and prints the project version."""
        p = self.run_cli("version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(project_version(), p.stdout + p.stderr)
        # As most tools take it (it answered "a command is required" before).
        flag = self.run_cli("--version")
        self.assertEqual((flag.returncode, flag.stdout), (0, p.stdout), flag.stderr)

    def test_check_good_file(self):
        """`check` on a valid file exits 0 and prints no diagnostics."""
        path = self.write("good.yaml", self.good_text())
        p = self.run_cli("check", "-c", path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout + p.stderr, r"good\.yaml:\d+:\d+:")

    def test_check_unknown_upstream(self):
        """A route naming a missing upstream: exit 1 and `bad.yaml:LINE:COL: ...` pointing at
        that route's line."""
        cfg = base_config(18080)
        cfg["routes"].append(route("ghost", path_prefix="/ghost", upstream="no-such-upstream"))
        text = to_yaml(cfg)
        path = self.write("bad.yaml", text)
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        lines = [int(n) for n in re.findall(r"bad\.yaml:(\d+):(?:\d+): \S", out)]
        self.assertIn(line_of(text, "no-such-upstream"), lines, out)
        self.assertIn("no-such-upstream", out)

    def test_check_yaml_syntax_error(self):
        """Broken YAML: exit 1 and a `bad-syntax.yaml:LINE:COL:` diagnostic near the break."""
        text = self.good_text().replace('name: "reports"', 'name: [unclosed')
        path = self.write("bad-syntax.yaml", text)
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        m = re.search(r"bad-syntax\.yaml:(\d+):(\d+): \S", out)
        self.assertIsNotNone(m, out)
        broken_line = line_of(text, "[unclosed")
        self.assertTrue(broken_line <= int(m.group(1)) <= len(text.splitlines()) + 1, out)

    def test_check_reports_each_problem(self):
        """Several independent problems are each reported on a FILE:LINE:COL line."""
        cfg = base_config(18080)
        cfg["routes"].append(route("ghost1", path_prefix="/ghost1", upstream="missing-one"))
        cfg["routes"].append(route("ghost2", path_prefix="/ghost2", upstream="missing-two"))
        text = to_yaml(cfg)
        path = self.write("bad-multi.yaml", text)
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        lines = {int(n) for n in re.findall(r"bad-multi\.yaml:(\d+):\d+: ", out)}
        self.assertIn(line_of(text, "missing-one"), lines, out)
        self.assertIn(line_of(text, "missing-two"), lines, out)

    def test_check_wrong_type_and_unknown_auth(self):
        """A value of the wrong type and an unsupported auth value are diagnosed with lines."""
        cfg = base_config(18080)
        cfg["server"]["max_body_bytes"] = "lots"
        cfg["routes"].append(route("weird", path_prefix="/weird", auth="sometimes"))
        text = to_yaml(cfg)
        path = self.write("bad-types.yaml", text)
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        lines = {int(n) for n in re.findall(r"bad-types\.yaml:(\d+):\d+: ", out)}
        self.assertIn(line_of(text, '"lots"'), lines, out)
        self.assertIn(line_of(text, '"sometimes"'), lines, out)

    def test_check_missing_file(self):
        """A file that does not exist: a non-zero exit naming the file."""
        path = os.path.join(self.dir, "does-not-exist.yaml")
        p = self.run_cli("check", "-c", path)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("does-not-exist.yaml", p.stdout + p.stderr)

    def check_pepper(self, name, pepper):
        cfg = base_config(18080)
        cfg["api_keys"] = {"store": "sqlite:keys.db", "pepper": pepper}
        text = to_yaml(cfg)
        path = self.write(name, text)
        # Before issue 10 (item 14) this read /dev/zero without bound, or waited for ever on
        # the FIFO's writer: the timeout would fail the test.
        p = self.run_cli("check", "-c", path, timeout=15)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        self.assertRegex(out, r"%s:%d:\d+: .*not a regular file" % (re.escape(name),
                                                                    line_of(text, pepper)))

    def test_check_refuses_an_endless_secret_file(self):
        """`pepper: file:/dev/zero`: `check` answers at once with FILE:LINE:COL."""
        self.check_pepper("zero-pepper.yaml", "file:/dev/zero")

    def test_check_refuses_a_fifo_secret_file(self):
        """A FIFO nobody writes to: `check` does not wait for a writer."""
        fifo = os.path.join(self.dir, "pepper.fifo")
        os.mkfifo(fifo)
        self.check_pepper("fifo-pepper.yaml", f"file:{fifo}")

    def shadowing_config(self, name, **public_options):
        """The issue's footgun: a public GET /v1 route before an api_key route under /v1."""
        pepper = self.write("route-pepper", "a-pepper-for-the-cli-tests\n")
        cfg = base_config(18080, routes=[
            route("public", path_prefix="/v1", methods=["GET"], **public_options),
            route("partner", path_prefix="/v1/partner/reports", methods=["GET", "POST"],
                  auth=["api_key"]),
        ])
        cfg["api_keys"] = {"store": "sqlite:keys.db", "pepper": f"file:{pepper}"}
        ordered = {k: v for k, v in cfg.items() if k != "routes"}
        ordered["routes"] = cfg["routes"]
        text = to_yaml(ordered)
        return self.write(name, text), text

    def test_check_refuses_a_public_route_shadowing_part_of_a_protected_one(self):
        """GET /v1/partner/reports would reach 'public' unauthenticated: an error at the
        public route, for `check` and for `run` alike (issue 10, item 15)."""
        path, text = self.shadowing_config("shadow.yaml")
        for command in ("check", "run"):
            p = self.run_cli(command, "-c", path)
            out = p.stdout + p.stderr
            self.assertEqual(p.returncode, 1, out)
            self.assertRegex(out, r"shadow\.yaml:%d:\d+: route 'public' takes requests such as "
                             r"GET /v1/partner/reports from route 'partner'"
                             % line_of(text, '"public"'))

    def test_check_accepts_intended_shadowing_with_a_warning(self):
        """`shadows: [partner]` says it is intended: exit 0, and still a warning naming it."""
        path, text = self.shadowing_config("shadow-ok.yaml", shadows=["partner"])
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r"shadow-ok\.yaml:%d:\d+: .*route 'public' takes requests .* "
                         r"from route 'partner'.*as its 'shadows' allows"
                         % line_of(text, "shadows"))

    def test_check_refuses_an_unknown_name_in_shadows(self):
        path, text = self.shadowing_config("shadow-typo.yaml", shadows=["partnr"])
        p = self.run_cli("check", "-c", path)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("'shadows' names no route 'partnr' (did you mean 'partner'?)", out)

    # --- exit codes (docs/operations.md) -------------------------------------------------------

    def test_unknown_command_is_named_with_the_commands(self):
        """Exit 2, naming the word and listing what exists, at either level."""
        p = self.run_cli("frobnicate")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("portcullis: unknown command 'frobnicate'", p.stderr)
        self.assertRegex(p.stderr, r"the commands are: run, check, version, keys\b")
        p = self.run_cli("keys", "--store", "sqlite:unused.db", "frob")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("portcullis keys: unknown command 'frob'", p.stderr)
        self.assertIn("create, list, update, disable, enable, revoke, rotate", p.stderr)

    def test_exit_codes(self):
        """0 done; 1 the command ran and failed; 2 the command line is wrong (never CLI11's
        own 105..114)."""
        good = self.write("codes-good.yaml", self.good_text())
        bad = self.write("codes-bad.yaml", self.good_text().replace('"echo"', '"nope"', 1))
        cases = [
            (0, ["version"]),
            (0, ["--help"]),
            (0, ["keys", "--help"]),
            (0, ["check", "-c", good]),
            (1, ["check", "-c", bad]),
            (1, ["check", "-c", os.path.join(self.dir, "missing.yaml")]),
            (1, ["run", "-c", bad]),
            (1, ["keys", "--store", f"sqlite://{self.dir}/no-such-folder/keys.db", "list"]),
            (2, []),                               # no command
            (2, ["check"]),                        # -c is required (CLI11: 106)
            (2, ["run", "-c"]),                    # -c without its value
            (2, ["check", "-c", good, "extra"]),   # an extra argument (CLI11: 109)
            (2, ["version", "--verbose"]),         # an unknown option
            (2, ["keys"]),                         # keys needs a subcommand
            (2, ["keys", "list"]),                 # no store named
            (2, ["keys", "-c", good, "--store", "sqlite:x.db", "list"]),
            (2, ["keys", "--store", "sqlite:x.db", "disable", "not-an-id"]),
            (2, ["keys", "--store", "sqlite:x.db", "create", "--client", "a b"]),
        ]
        for code, args in cases:
            with self.subTest(args=args):
                p = self.run_cli(*args)
                self.assertEqual(p.returncode, code, p.stdout + p.stderr)
                if code == 2:
                    self.assertTrue(p.stderr.strip(), "a usage error says what is wrong")

    # --- what `run` opens, checked by `check` -----------------------------------------------------

    def check_and_run_refuse(self, name, cfg, needle, reason):
        """`check` and `run` both exit 1 with NAME:LINE:COL: ... <reason> at the line of
        `needle` (before issue 11 `check` passed and `run` failed without either)."""
        text = to_yaml(cfg)
        path = self.write(name, text)
        for command in ("check", "run"):
            with self.subTest(command=command):
                p = self.run_cli(command, "-c", path)
                out = p.stdout + p.stderr
                self.assertEqual(p.returncode, 1, out)
                self.assertRegex(out, r"%s:%d:\d+: .*%s" % (re.escape(name), line_of(text, needle),
                                                            re.escape(reason)))

    def test_access_log_that_cannot_be_opened(self):
        missing = os.path.join(self.dir, "no-such-folder", "access.log")
        cfg = base_config(18080, log={"access": missing})
        self.check_and_run_refuse("log-folder.yaml", cfg, "no-such-folder",
                                  "cannot open access log %s: folder %s: No such file or directory"
                                  % (missing, os.path.dirname(missing)))
        cfg = base_config(18080, log={"access": self.dir})
        self.check_and_run_refuse("log-dir.yaml", cfg, "access:",
                                  "cannot open access log %s: Is a directory" % self.dir)

    def test_key_store_folder_that_cannot_be_opened(self):
        pepper = self.write("store-pepper", "a-pepper-for-the-cli-tests\n")
        cfg = base_config(18080, routes=[route("keys", path_prefix="/k", auth=["api_key"])])
        cfg["api_keys"] = {"store": "sqlite:no-such-folder/keys.db", "pepper": f"file:{pepper}"}
        folder = os.path.join(self.dir, "no-such-folder")
        self.check_and_run_refuse("store-folder.yaml", cfg, "no-such-folder",
                                  "cannot open the key store sqlite:%s/keys.db: folder %s: "
                                  "No such file or directory" % (folder, folder))

    def test_run_refuses_bad_file(self):
        """`run` with an invalid file exits non-zero with the diagnostic instead of serving."""
        cfg = base_config(18080)
        cfg["routes"].append(route("ghost", path_prefix="/ghost", upstream="nope"))
        text = to_yaml(cfg)
        path = self.write("bad-run.yaml", text)
        p = self.run_cli("run", "-c", path)
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, out)
        self.assertRegex(out, r"bad-run\.yaml:%d:\d+: " % line_of(text, '"nope"'))


if __name__ == "__main__":
    unittest.main()

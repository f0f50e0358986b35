#!/usr/bin/env python3
"""Writes realistic JUnit XML fixtures: pytest, go-junit-report and Bazel
styles, and a large pytest file (5,000 tests) for the benchmark.

    scripts/junit-fixtures.py OUT_DIR [--tests N] [--failures F] [--seed S]

Deterministic for a seed: the same files every time."""

import argparse
import os
import random
from xml.sax.saxutils import escape, quoteattr

TRACE = """def test_{name}(enb, mme):
    ue = attach(enb, mme, imsi="001010000000001")
>   assert ue.state == "CONNECTED", ue.state
E   AssertionError: IDLE
E   assert 'IDLE' == 'CONNECTED'

lte/gateway/python/integ_tests/s1aptests/test_{name}.py:{line}: AssertionError"""


def pytest_file(rng, tests, failures, suite="pytest"):
    failing = set(rng.sample(range(tests), min(failures, tests)))
    skipped = set(rng.sample(range(tests), tests // 50)) - failing
    cases = []
    for i in range(tests):
        module = f"s1aptests.test_{['attach', 'detach', 'paging', 'ipv6', 'handover'][i % 5]}_{i // 100:02d}"
        name = f"test_{['attach_detach', 'multi_ue', 'idle_mode', 'tau', 'service_req'][i % 5]}_{i:05d}"
        time = f"{rng.uniform(0.05, 40):.3f}"
        if i in failing:
            body = (
                f'<failure message={quoteattr("AssertionError: assert IDLE == CONNECTED")}>'
                f"{escape(TRACE.format(name=name, line=rng.randint(20, 400)))}</failure>"
            )
        elif i in skipped:
            body = '<skipped type="pytest.skip" message="needs the arm64 runner">skip</skipped>'
        else:
            body = ""
        cases.append(
            f'<testcase classname="{module}" name="{name}" time="{time}">{body}</testcase>'
            if body
            else f'<testcase classname="{module}" name="{name}" time="{time}"/>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="'
        + suite
        + f'" errors="0" failures="{len(failing)}" skipped="{len(skipped)}" tests="{tests}" '
        + 'time="1234.5" timestamp="2026-11-27T10:00:00" hostname="runner-arm64-3">\n'
        + "\n".join(cases)
        + "\n</testsuite></testsuites>\n"
    )


def go_file(rng, packages=20, per_package=40, failures=2):
    suites = []
    failing = set(rng.sample(range(packages * per_package), failures))
    n = 0
    for p in range(packages):
        pkg = f"magma/orc8r/cloud/go/services/svc{p:02d}"
        cases = []
        for t in range(per_package):
            name = f"Test{['Sync', 'Report', 'Get', 'Put', 'Delete'][t % 5]}{t:03d}"
            if n in failing:
                cases.append(
                    f'<testcase classname="svc{p:02d}" name="{name}" time="0.010">'
                    f'<failure message="Failed" type="">svc_test.go:{rng.randint(10, 300)}: expected 3, got 2</failure></testcase>'
                )
            else:
                cases.append(f'<testcase classname="svc{p:02d}" name="{name}" time="0.000"></testcase>')
            n += 1
        suites.append(
            f'<testsuite tests="{per_package}" failures="0" time="0.5" name="{pkg}">\n'
            '<properties><property name="go.version" value="go1.21.4"></property></properties>\n'
            + "\n".join(cases)
            + "\n</testsuite>"
        )
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n" + "\n".join(suites) + "\n</testsuites>\n"


def bazel_file(target, failed):
    error = '<error message="exited with error code 1"></error>' if failed else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="{target}" tests="1" failures="0" errors="{int(failed)}">
    <testcase name="{target}" status="run" duration="12" time="12">{error}</testcase>
      <system-out><![CDATA[Generated test.log (if the file is not UTF-8, then this may be unreadable):
exec ${{PAGER:-/usr/bin/less}} "$0" || exit 1
-----------------------------------------------------------------------------
[==========] Running 42 tests from 3 test suites.]]></system-out>
    </testsuite>
</testsuites>
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--failures", type=int, default=5)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    files = {
        "pytest-integ.xml": pytest_file(rng, 120, 3),
        "pytest-large.xml": pytest_file(rng, args.tests, args.failures),
        "go-orc8r.xml": go_file(rng),
        "bazel-test_mme.xml": bazel_file("//lte/gateway/c/core:test_mme", True),
        "bazel-test_sctpd.xml": bazel_file("//lte/gateway/c/sctpd:test_sctpd", False),
    }
    for name, text in files.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{name}: {len(text.encode()):,} bytes")


if __name__ == "__main__":
    main()

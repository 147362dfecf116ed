"""The official MCP Python SDK (PyPI `mcp`) driving a labthings server's
MCP binding, used as its documentation says: `mcp.Client` over the
Streamable HTTP transport, credentials in the HTTP client's headers.

    python mcp_client.py SCENARIO URL

URL is the server's base URL (ending in `/`); the MCP endpoint is `URL + mcp`.
Tokens come from the environment: AGENT_TOKEN (an operator the approval
policy names, through MCP), OPERATOR_TOKEN (another operator, who approves
over HTTP), OBSERVER_TOKEN. Each step prints one JSON line; the Rust test
(tests/mcp.rs) checks them and the server's state.

Scenarios: `mock_lab` (discover, read, write, move with progress, cancel,
approval, refusals), `bad_calls N` (N generated out-of-range or malformed
calls of the `counter` thing's tools), `rate_limit N` (N quick calls) and
`bridge BINARY URL...` (`labthings mcp URL...` over stdio; the calls to
make as JSON in BRIDGE_CALLS; here the second argument is the binary).
"""

import json
import os
import random
import sys
import time

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def client(url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0, read=300.0))
    return Client(streamable_http_client(url + "mcp", http_client=http))


def http(token):
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0)


def text_of(result):
    return " ".join(getattr(c, "text", "") for c in result.content)


async def invocations(url, token, action):
    async with http(token) as h:
        all_ = (await h.get(url + "action_invocations")).json()
    return [i for i in all_ if i["action"] == action]


async def pending_move(url, token):
    """The stage's `move_absolute` invocations still pending, once there is one (10 s at most)."""
    for _ in range(200):
        waiting = [i for i in await invocations(url, token, "/stage/move_absolute") if i["status"] == "pending"]
        if waiting:
            return waiting
        await anyio.sleep(0.05)
    return []


async def position(url, token):
    async with http(token) as h:
        return (await h.get(url + "stage/position")).json()


async def mock_lab(url):
    agent, operator, observer = (os.environ[k] for k in ("AGENT_TOKEN", "OPERATOR_TOKEN", "OBSERVER_TOKEN"))
    async with client(url, agent) as c:
        tools = (await c.list_tools()).tools
        say(
            "tools",
            tools={t.name: {"input": t.input_schema, "output": t.output_schema, "description": t.description} for t in tools},
        )
        resources = (await c.list_resources()).resources
        say("resources", uris=[str(r.uri) for r in resources], mime=[r.mime_type for r in resources])
        td = await c.read_resource(str(resources[0].uri))
        say("resource", td=json.loads(td.contents[0].text))

        read = await c.call_tool("stage.get-position", {})
        say("read", error=read.is_error, structured=read.structured_content)
        wrote = await c.call_tool("stage.set-step_delay_ms", {"value": 2})
        again = await c.call_tool("stage.get-step_delay_ms", {})
        say("write", error=wrote.is_error, value=again.structured_content)

        progress = []

        async def on_progress(value, total, message):
            progress.append([value, total])

        moved = await c.call_tool("stage.move_relative", {"x": 150}, progress_callback=on_progress)
        say("move", error=moved.is_error, structured=moved.structured_content, progress=progress)

        # A refusal names the rule, and nothing moves.
        before = await position(url, operator)
        bad = await c.call_tool("stage.move_relative", {"x": 10_000_000})
        say("out_of_range", error=bad.is_error, text=text_of(bad), moved=(await position(url, operator)) != before)

        # Cancel a long move mid-way: the client gives up on the call.
        await c.call_tool("stage.set-step_delay_ms", {"value": 5})
        seen = []

        async def on_long_progress(value, total, message):
            seen.append(value)

        with anyio.move_on_after(1.5):
            await c.call_tool("stage.move_relative", {"x": 5000}, progress_callback=on_long_progress)
        await anyio.sleep(0.5)
        first = await position(url, operator)
        await anyio.sleep(0.5)
        later = await position(url, operator)
        moves = await invocations(url, operator, "/stage/move_relative")
        say("cancel", progress_seen=len(seen), still_moving=first != later, position=later, status=moves[-1]["status"])

        # An action that needs approval: it does not run until an operator
        # (not the agent) approves it over HTTP.
        result = {}

        async def call_and_keep():
            result["r"] = await c.call_tool("stage.move_absolute", {"x": 20, "y": 0, "z": 0})

        async with anyio.create_task_group() as tg:
            tg.start_soon(call_and_keep)
            waiting = await pending_move(url, operator)
            at_first = await position(url, operator)
            await anyio.sleep(0.5)
            still = await position(url, operator)
            async with http(agent) as h:
                own = await h.post(waiting[0]["approval"]["approve"])
            async with http(operator) as h:
                approved = await h.post(waiting[0]["approval"]["approve"])
        r = result["r"]
        say(
            "approval",
            awaiting=waiting[0]["approval"],
            moved_before_approval=at_first != still,
            own_approval=own.status_code,
            approved=approved.status_code,
            error=r.is_error,
            structured=r.structured_content,
        )

        # A rejected one ends as an error the model reads.
        async with anyio.create_task_group() as tg:
            tg.start_soon(call_and_keep)
            waiting = await pending_move(url, operator)
            async with http(operator) as h:
                rejected = await h.post(waiting[0]["approval"]["reject"])
        r = result["r"]
        say("rejection", rejected=rejected.status_code, error=r.is_error, text=text_of(r), position=await position(url, operator))

    # No token: refused before anything is listed.
    try:
        async with client(url, None) as c:
            await c.list_tools()
        say("no_token", refused=False)
    except Exception as e:  # the SDK raises on the 401
        say("no_token", refused=True, errors=leaves(e))

    # An observer: reading tools only, and every action refused.
    async with client(url, observer) as c:
        observed = [t.name for t in (await c.list_tools()).tools]
        refusals = {}
        for name in agent_actions(tools):
            r = await c.call_tool(name, {})
            refusals[name] = {"error": r.is_error, "text": text_of(r)}
        say("observer", tools=observed, refusals=refusals)


def leaves(error):
    """The exceptions inside (nested) exception groups, as text."""
    if isinstance(error, BaseExceptionGroup):
        return [text for inner in error.exceptions for text in leaves(inner)]
    return [f"{type(error).__name__}: {str(error)[:300]}"]


async def rate_limit(url, count):
    """`count` quick calls of a cheap tool: how many were refused, and what
    a refusal says."""
    answers = []
    async with client(url, os.environ.get("AGENT_TOKEN")) as c:
        for _ in range(count):
            r = await c.call_tool("counter.step", {"by": 1})
            answers.append({"error": r.is_error, "text": text_of(r)})
    say("rate_limit", answers=answers)


async def bridge(binary, urls):
    """`labthings mcp URL...` as a local MCP server over stdio, started by
    the SDK as its documentation says (`StdioServerParameters`)."""
    from mcp import StdioServerParameters

    env = dict(os.environ)
    params = StdioServerParameters(command=binary, args=["mcp", *urls], env=env)
    async with Client(params) as c:
        tools = {t.name: t.input_schema for t in (await c.list_tools()).tools}
        say("bridge_tools", tools=tools)
        calls = {}
        for name, args in json.loads(os.environ["BRIDGE_CALLS"]):
            progress = []

            async def on_progress(value, total, message):
                progress.append(value)

            r = await c.call_tool(name, args, progress_callback=on_progress)
            calls[name + " " + json.dumps(args)] = {
                "error": r.is_error,
                "structured": r.structured_content,
                "text": text_of(r)[:400],
                "progress": progress,
            }
        say("bridge_calls", calls=calls)


def agent_actions(tools):
    return [t.name for t in tools if "-" not in t.name.split(".", 1)[1]]


def bad_input(rng, tools):
    """One generated out-of-range or malformed input for a `counter` tool."""
    name = rng.choice(tools)
    kind = rng.randrange(8)
    if name == "counter.step":
        inputs = [
            {"by": rng.choice([0, -1, 11, 10**9, -(10**12)])},  # outside 1..=10
            {"by": rng.random() + 0.5},  # not an integer
            {"by": "3"},  # a string
            {},  # missing
            {"by": None},
            {"by": [1]},
            {"by": 2, "extra": True},  # an unknown field
            {"by": {"nested": 1}},
        ]
    elif name == "counter.label":
        inputs = [
            {"text": ""},  # shorter than 1
            {"text": "x" * rng.randrange(33, 400)},  # longer than 32
            {"text": "has space"},  # against the pattern
            {"text": 5},
            {},
            {"text": "ok", "colour": "blue"},  # an unknown field
            {"text": None},
            {"text": "ümlaut"},  # outside the pattern's letters
        ]
    else:  # counter.mode
        inputs = [
            {"mode": "turbo"},  # not in the enum
            {"mode": ""},
            {"mode": 1},
            {},
            {"mode": None},
            {"mode": ["slow"]},
            {"mode": "SLOW"},
            {"mode": "slow", "x": 1},
        ]
    return name, inputs[kind]


async def bad_calls(url, count):
    rng = random.Random(31)
    agent = os.environ.get("AGENT_TOKEN")
    answered = {"tool_error": 0, "protocol_error": 0, "ok": 0}
    examples = []
    started = time.monotonic()
    async with client(url, agent) as c:
        tools = [t.name for t in (await c.list_tools()).tools if t.name in ("counter.step", "counter.label", "counter.mode")]
        for n in range(count):
            name, args = bad_input(rng, tools)
            try:
                r = await c.call_tool(name, args)
            except Exception as e:
                answered["protocol_error"] += 1
                if len(examples) < 3:
                    examples.append({"input": args, "raised": str(e)[:200]})
                continue
            if r.is_error:
                answered["tool_error"] += 1
                if len(examples) < 6 and n % 1000 == 0:
                    examples.append({"tool": name, "input": args, "answer": text_of(r)[:300]})
            else:
                answered["ok"] += 1
                examples.append({"tool": name, "input": args, "accepted": r.structured_content})
    say("bad_calls", count=count, answered=answered, examples=examples, seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    scenario, url = sys.argv[1], sys.argv[2]
    if scenario == "mock_lab":
        anyio.run(mock_lab, url)
    elif scenario == "bridge":
        anyio.run(bridge, url, sys.argv[3:])
    elif scenario == "rate_limit":
        anyio.run(rate_limit, url, int(sys.argv[3]))
    elif scenario == "bad_calls":
        anyio.run(bad_calls, url, int(sys.argv[3]))
    else:
        sys.exit(f"unknown scenario {scenario}")

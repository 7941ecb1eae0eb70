"""Chaos in a real Jupyter kernel: does the kernel survive what students do to phones?

One kernel (nbclient), real Asterisk, real phones: cells run twice, a cell waiting
for a call is interrupted, phones are deleted and recreated, a phone's agent is
SIGKILLed mid-call. The kernel must survive and a new phone must register.
"""

from __future__ import annotations

import asyncio

import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.asterisk, pytest.mark.pjsua2]

SETUP = """
import gc, os, signal, time
import voiplab as vl
rpi = vl.Phone("rpi")
rpi.register()
gui = vl.Phone("guillaume")
gui.register()
"""
WAIT_FOR_A_CALL = """
interrupted = False
try:
    rpi.wait_incoming(timeout=60)
except KeyboardInterrupt:
    interrupted = True
"""
RECREATE = """
assert interrupted
del gui
gc.collect()
gui = vl.Phone("guillaume")
gui.register()
"""
KILL_MID_CALL = """
call = rpi.call("5003")
incoming = gui.wait_incoming(timeout=5)
incoming.answer()
call.wait("CONFIRMED", timeout=5)
os.kill(rpi.pid, signal.SIGKILL)
died = False
try:
    call.hangup()
except vl.PhoneDied:
    died = True
assert died
"""
LAST = """
incoming.hangup()
incoming.wait("DISCONNECTED", timeout=5)
rpi = vl.Phone("rpi")
assert rpi.register().status == 200
call = rpi.call("5003")
gui.wait_incoming(timeout=5).answer()
call.wait("CONFIRMED", timeout=5)
call.hangup()
call.wait("DISCONNECTED", timeout=5)
print("kernel alive, pid", os.getpid())
"""


def test_kernel_survives_chaos(pbx):
    """Run the cells twice, interrupt a wait, recreate and SIGKILL phones: does the last cell pass?"""
    import nbclient
    import nbformat

    cells = [SETUP, WAIT_FOR_A_CALL, RECREATE, KILL_MID_CALL, LAST]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=False)

    async def scenario() -> str:
        async with client.async_setup_kernel():
            kernel_pid = None
            for _round in range(2):
                for index, cell in enumerate(nb.cells):
                    if index == 1:
                        task = asyncio.ensure_future(client.async_execute_cell(cell, index))
                        await asyncio.sleep(2.0)
                        await client.km.interrupt_kernel()
                        await asyncio.wait_for(task, 20)
                    else:
                        await client.async_execute_cell(cell, index)
                out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
                assert "kernel alive" in out
                pid = out.split("pid")[-1].strip()
                assert kernel_pid in (None, pid), "the kernel was restarted"
                kernel_pid = pid
            nb.cells.append(nbformat.v4.new_code_cell("rpi.close(); gui.close()"))
            await client.async_execute_cell(nb.cells[-1], len(nb.cells) - 1)
            return kernel_pid or ""

    assert asyncio.run(scenario())

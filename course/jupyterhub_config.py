"""JupyterHub's configuration for serving the voiplab course to a class on one server.

Copy it (or use it in place) and start the hub as root with it, from the venv that holds voiplab
and JupyterHub (``docs/jupyterhub.md`` gives every step)::

    sudo /opt/voiplab/venv/bin/jupyterhub -f /opt/voiplab/course/course/jupyterhub_config.py

What it sets up:

* **who may log in**: the local Unix users whose ids are in the class roster (the CSV of
  ``voiplab classroom``: ``id,name[,email]``), checked by PAM with their Unix password
  (``PAMAuthenticator``); instructors named in ``$VOIPLAB_HUB_ADMINS`` are the hub's admins;
* **each student's server**: ``jupyterhub-singleuser`` of this same venv, run as the student
  (``LocalProcessSpawner``), opening JupyterLab in ``~/voiplab``, where the course's notebooks are
  copied at the first start (never over a student's own copy);
* **each student's lab**: the notebooks call ``vl.start_lab()``, which starts the student's own
  Asterisk on the loopback addresses of their uid (``127.A.B.80-83``, uid = 256*A + B) from the
  system root filesystem ``/opt/voiplab/asterisk-rootfs`` (``voiplab pbx install --system``), in a
  user namespace, with its state in ``~/.local/state/voiplab`` (0700, secrets 0600, a random
  manager secret per start). When the server stops, the student's lab is stopped too
  (``voiplab lab down`` as the student).

Settings read from the environment of the hub (all optional):

``VOIPLAB_HUB_ROSTER``
    the class roster (default ``/etc/voiplab/roster.csv``); without one, every local user whose
    Unix password PAM accepts may log in (``allow_all``): fine for a lab machine, not for a
    server on a campus network.
``VOIPLAB_HUB_ADMINS``
    the hub's admins (instructors), separated by commas.
``VOIPLAB_COURSE_NOTEBOOKS``
    the folder of notebooks copied into each new student's ``~/voiplab`` (default: the
    ``notebooks/`` folder beside this file's ``course/``). Students must be able to read it.
"""

import asyncio
import os
import pwd
import sys
from pathlib import Path

from voiplab.devices.classroom import read_roster
from voiplab.errors import ConfigError

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - JupyterHub defines get_config() when it loads this file

#: the venv this hub runs from: the students' servers and kernels run from it too
VENV_BIN = Path(sys.prefix) / "bin"
ROSTER = Path(os.environ.get("VOIPLAB_HUB_ROSTER", "/etc/voiplab/roster.csv"))
NOTEBOOKS = Path(os.environ.get("VOIPLAB_COURSE_NOTEBOOKS",
                                Path(__file__).resolve().parent.parent / "notebooks"))
#: where a student finds the course in JupyterLab (relative to their home)
COURSE_FOLDER = "voiplab"
#: npm's configurable-http-proxy as 'setup.sh --system' installs it beside the venv
PROXY = Path(sys.prefix).parent / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"

# --- the hub: one public address (put TLS in front of it, or set ssl_cert/ssl_key below)
c.JupyterHub.bind_url = "http://:8000"
# c.JupyterHub.ssl_cert = "/etc/letsencrypt/live/voip.example.edu/fullchain.pem"
# c.JupyterHub.ssl_key = "/etc/letsencrypt/live/voip.example.edu/privkey.pem"
# the hub's database and cookie secret: in the directory the hub is started from
# (systemd: WorkingDirectory=/srv/jupyterhub, see docs/jupyterhub.md)
if PROXY.exists():  # else configurable-http-proxy on PATH (npm install -g)
    c.ConfigurableHTTPProxy.command = [str(PROXY)]

# --- who may log in: local Unix users, their Unix password checked by PAM
c.JupyterHub.authenticator_class = "pam"
# no PAM session: a container or a server without systemd-logind has no use for one
c.PAMAuthenticator.open_sessions = False
if ROSTER.exists():
    c.Authenticator.allowed_users = {student.id for student in read_roster(ROSTER)}
else:
    c.Authenticator.allow_all = True
c.Authenticator.admin_users = {name.strip() for name in os.environ.get("VOIPLAB_HUB_ADMINS", "").split(",")
                               if name.strip()}

# --- each student's server: this venv's jupyterhub-singleuser, run as the student
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = f"/lab/tree/{COURSE_FOLDER}"
# the first start of a server also starts Python, pjsua2 and JupyterLab from a cold disk cache
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
# the student's kernels find voiplab, pjsua2 and tshark; nothing else of the hub's environment
c.Spawner.environment = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"}


def _as_student(name: str) -> dict:
    """The arguments that run a subprocess as the student ``name``, in their home."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"the hub user {name} is not a Unix user of this server: create it "
                          "(useradd --create-home) as docs/jupyterhub.md shows") from None
    env = {"HOME": entry.pw_dir, "USER": name, "LOGNAME": name, "LANG": os.environ.get("LANG", "C.UTF-8"),
           "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"}
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": os.getgrouplist(name, entry.pw_gid),
            "cwd": entry.pw_dir, "env": env}


#: run as the student: copy the course's notebooks into ~/voiplab, never over a file they have
_COPY_NOTEBOOKS = """
import shutil, sys
from pathlib import Path
src, dest = Path(sys.argv[1]), Path.home() / sys.argv[2]
for nb in sorted(src.glob("*.ipynb")) + sorted(src.glob("*/*.ipynb")):
    target = dest / nb.relative_to(src)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, target)
"""


async def copy_course(spawner) -> None:
    """Before a student's server starts: the course's notebooks in their ~/voiplab (first start only)."""
    proc = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "python"), "-c", _COPY_NOTEBOOKS, str(NOTEBOOKS), COURSE_FOLDER,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, **_as_student(spawner.user.name))
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise ConfigError(f"the course's notebooks could not be copied from {NOTEBOOKS} for {spawner.user.name} "
                          f"({out.decode(errors='replace').strip()[-300:]}): make the folder readable by every "
                          "student (chmod -R a+rX), or set VOIPLAB_COURSE_NOTEBOOKS")


async def stop_lab(spawner) -> None:
    """After a student's server stopped: their lab (Asterisk, the simulated Alcatel) stops too."""
    proc = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "voiplab"), "lab", "down",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, **_as_student(spawner.user.name))
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        spawner.log.warning("'voiplab lab down' as %s failed: %s", spawner.user.name, out.decode(errors="replace"))


c.Spawner.pre_spawn_hook = copy_course
c.Spawner.post_stop_hook = stop_lab

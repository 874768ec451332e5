"""Jobs screen: forms that launch `physics-llm data generate`, `train gpt` and `eval`, and their output.

Jobs run as subprocesses (app/jobs.py); this screen only reads their status and
output tail, so it never waits. Datasets and runs go to jobs_dir, reports to
reports_dir (where the gallery finds them).
"""

from __future__ import annotations

import time
from pathlib import Path

from app import widgets as W
from app.jobs import Job, next_dir
from app.scenefiles import JSONL_NAME
from app.states.base import Shared, State

FORM_W, PAD, ROW = 430, 12, 34
PREVIEW_S = 0.5  # the forms' command lines look at the disk (next free dir, latest dataset) this often
SOURCES = ["random scenes", "latest dataset", "editor scenes.jsonl"]
STATUS_COLORS = {"running": W.ACCENT, "done": W.OK, "failed": W.BAD, "cancelled": W.WARN}


def latest_dataset(jobs_dir: str) -> str | None:
    """The newest dataset directory (one with metadata.json) directly under jobs_dir, or None."""
    found = [p.parent for p in Path(jobs_dir).glob("*/metadata.json")]
    return str(max(found, key=lambda p: p.stat().st_mtime)) if found else None


class JobsState(State):
    name = "jobs"
    hints = "click a form's button to start a job  Up/Down pick a job  c cancel it  esc back  g gallery  q quit"

    def __init__(self, shared: Shared):
        super().__init__(shared)
        self._previews: dict = {}
        self._previewed = 0.0
        self._layout()

    CHOICES = ("gen_config", "gen_scenes", "train_config", "train_steps", "eval_source", "eval_ood", "eval_count",
               "eval_horizon")

    def resize(self) -> None:
        """A new window size: the forms are laid out again, keeping what is chosen in them."""
        kept = {name: getattr(self, name).index for name in self.CHOICES}
        selected = self.list.selected
        self._layout()
        for name, index in kept.items():
            getattr(self, name).index = index
        self.list.set_items(self._job_rows(), selected)
        self._previewed = 0.0

    def _layout(self) -> None:
        import pygame

        b = self.body
        x, w = b.x + PAD, FORM_W
        small_h = 38 + ROW + 3 * (self.theme.mono.get_linesize() + 1) + 10  # title, widgets, 3 lines of command
        tops = [b.y + PAD, b.y + 2 * PAD + small_h, b.y + 3 * PAD + 2 * small_h]
        self.cards = [pygame.Rect(x, tops[0], w, small_h), pygame.Rect(x, tops[1], w, small_h),
                      pygame.Rect(x, tops[2], w, b.bottom - PAD - tops[2])]
        third = (w - 24 - 16) // 3

        def cell(card, row, col, span=1):
            return pygame.Rect(card.x + 12 + col * (third + 8), card.y + 38 + row * ROW, span * third + (span - 1) * 8,
                               28)

        g, t, e = self.cards
        self.gen_config = W.Choice(cell(g, 0, 0), "config", ["tiny", "default"])
        self.gen_scenes = W.Choice(cell(g, 0, 1), "scenes", ["12", "50", "200", "1000", "10000"])
        self.gen_button = W.Button(cell(g, 0, 2), "generate")
        self.train_config = W.Choice(cell(t, 0, 0), "config", ["gpt_tiny", "gpt"])
        self.train_steps = W.Choice(cell(t, 0, 1), "steps", ["50", "200", "1000", "5000"])
        self.train_button = W.Button(cell(t, 0, 2), "train gpt")
        self.eval_source = W.Choice(cell(e, 1, 0, span=3), "scenes", SOURCES)
        self.eval_ood = W.Choice(cell(e, 2, 0), "OOD", ["off", "on"])
        self.eval_count = W.Choice(cell(e, 2, 1), "per suite", ["2", "5", "10", "20"], index=1)
        self.eval_horizon = W.Choice(cell(e, 2, 2), "horizon", ["20", "50", "100"], index=2)
        self.eval_button = W.Button(pygame.Rect(cell(e, 0, 2).x, e.bottom - 12 - 28, third, 28), "evaluate")
        self._preview_rows = {"generate": 1, "train": 1, "eval": 3}
        right = pygame.Rect(x + w + PAD, b.y + PAD, b.right - x - w - 2 * PAD, b.height - 2 * PAD)
        self.list = W.ListPicker(pygame.Rect(right.x, right.y + 30, right.width, 5 * 24 + 8))
        self.cancel_button = W.Button(pygame.Rect(right.right - 120, right.y, 120, 26), "cancel (c)")
        self.output = pygame.Rect(right.x, self.list.rect.bottom + PAD, right.width,
                                  right.bottom - self.list.rect.bottom - PAD)

    def _widgets(self):
        return [self.gen_config, self.gen_scenes, self.train_config, self.train_steps, self.eval_source,
                self.eval_ood, self.eval_count, self.eval_horizon]

    # ------------------------------------------------------------ launching

    def generate_args(self) -> tuple[list[str], str, str | None]:
        """(arguments, output dir, problem or None) of the generate form; the same three for the others."""
        out = next_dir(self.cfg.jobs_dir, "data")
        return ["data", "generate", "--config", f"configs/data/{self.gen_config.value}.yaml",
                "--scenes", self.gen_scenes.value, "--out", out], out, None

    def train_args(self) -> tuple[list[str], str, str | None]:
        data = latest_dataset(self.cfg.jobs_dir)
        out = next_dir(self.cfg.jobs_dir, "train")
        args = ["train", "gpt", "--config", f"configs/train/{self.train_config.value}.yaml", "--data", str(data),
                "--out", out, "--set", f"steps={self.train_steps.value}"]
        problem = None if data else f"no dataset in {self.cfg.jobs_dir}/ yet: generate one first"
        return args, out, problem

    def eval_args(self) -> tuple[list[str], str, str | None]:
        out = next_dir(self.cfg.reports_dir, "app-eval")
        args, problem = ["eval", "--model", self.persist.get("model", self.cfg.model)], None
        source = self.eval_source.value
        if source == "latest dataset":
            data = latest_dataset(self.cfg.jobs_dir)
            args += ["--data", str(data)]
            if data is None:
                problem = f"no dataset in {self.cfg.jobs_dir}/ yet: generate one, or use random scenes"
        elif source == "editor scenes.jsonl":
            path = Path(self.cfg.scenes_dir) / JSONL_NAME
            args += ["--scenes", str(path)]
            if not path.exists():
                problem = f"no {path} yet: draw scenes in the editor and press a to append them"
        args += ["--suite", "in_dist"] + (["--suite", "ood:all"] if self.eval_ood.value == "on" else [])
        args += ["--scenes-per-suite", self.eval_count.value, "--horizon", self.eval_horizon.value,
                 "--gifs", "1", "--progress", "--out", out]
        return args, out, problem

    def start(self, name: str) -> Job | None:
        """Start the job of form `name` (generate, train or eval); None, with the reason said, if it cannot run."""
        args, out, problem = self._forms()[name]()
        if problem:
            self.say(problem, error=True)
            return None
        job = self.shared.jobs.start(name, args, out=out)
        self._previewed = 0.0
        self.list.set_items(self._job_rows(), len(self.shared.jobs.all()) - 1)
        self.say(f"started {job.command}")
        return job

    def _forms(self) -> dict:
        return {"generate": self.generate_args, "train": self.train_args, "eval": self.eval_args}

    # ------------------------------------------------------------ state interface

    def startup(self, persist: dict) -> None:
        super().startup(persist)
        self._previewed = 0.0  # the compare screen's model may have changed
        if self.shared.jobs.jobs and self.list.selected < len(self.shared.jobs.history):
            self.list.set_items(self._job_rows(), len(self.shared.jobs.all()) - 1)  # this session's newest job

    def _job_rows(self) -> list[str]:
        rows = []
        for k, j in enumerate(self.shared.jobs.all()):
            p = j.progress() if j.status == "running" else None
            pct = f"{100 * p[0] / p[1]:3.0f}%" if p and p[1] else "    "
            past = "  (earlier session)" if getattr(j, "past", False) else ""
            rows.append(f"#{k + 1}  {j.name:<9} {j.status:<9} {pct} {j.elapsed:7.1f} s   {j.out or ''}{past}")
        return rows

    def selected_job(self):
        jobs = self.shared.jobs.all()
        return jobs[self.list.selected] if jobs and self.list.selected < len(jobs) else None

    def get_event(self, event) -> bool:
        import pygame

        for w in self._widgets():
            if w.handle(event):
                self._previewed = 0.0  # show the changed command at once
                return True
        for button, name in ((self.gen_button, "generate"), (self.train_button, "train"), (self.eval_button, "eval")):
            if button.handle(event):
                self.start(name)
                return True
        if self.cancel_button.handle(event):
            self.cancel()
            return True
        if self.list.handle(event):
            self.list.picked = None
            return True
        if event.type == pygame.KEYDOWN and event.key == pygame.K_c:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        job = self.selected_job()
        if job is None or job.status != "running":
            self.say("no running job selected", error=True)
            return
        job.cancel()
        self.say(f"cancelling job #{self.list.selected + 1} ({job.name})")

    def update(self, dt: float) -> None:
        self.list.set_items(self._job_rows())
        if time.monotonic() - self._previewed > PREVIEW_S:
            self._previews = {name: form() for name, form in self._forms().items()}
            self._previewed = time.monotonic()

    def draw(self, surface) -> None:
        import pygame

        th = self.theme
        titles = ["Generate a dataset", "Train the GPT", "Evaluate (the baselines are added)"]
        for card, title in zip(self.cards, titles):
            W.panel(surface, card, title, th)
        for w in self._widgets() + [self.gen_button, self.train_button, self.eval_button]:
            w.draw(surface, th)
        g, t, e = self.cards
        W.text(surface, f"model: {self.persist.get('model', self.cfg.model)}  (m on the compare screen)",
               (e.x + 12, e.y + 38 + 5), th.font, W.TEXT, e.width - 24)
        for card, name in zip(self.cards, self._forms()):
            if name not in self._previews:
                continue
            args, _, problem = self._previews[name]  # the command the button runs, or why it cannot run yet
            top = card.y + 38 + self._preview_rows[name] * ROW + 2
            bottom = self.eval_button.rect.y - 6 if name == "eval" else card.bottom - 6
            box = pygame.Rect(card.x + 12, top, card.width - 24, bottom - top)
            if problem:
                W.lines(surface, W.wrap(problem, th.small, box.width), box, th.small, W.WARN)
            else:
                W.lines(surface, W.wrap("$ physics-llm " + " ".join(args), th.mono, box.width), box, th.mono, W.DIM)
        right = self.list.rect
        W.text(surface, "Jobs", (right.x, right.y - 28), th.big)
        self.cancel_button.enabled = (job := self.selected_job()) is not None and job.status == "running"
        self.cancel_button.draw(surface, th)
        self.list.draw(surface, th, empty="no jobs yet: start one with a button on the left")
        W.panel(surface, self.output)
        if job is None:
            return
        color = STATUS_COLORS.get(job.status, W.TEXT)
        rc = "" if job.returncode is None else f" (exit {job.returncode})"
        x, w = self.output.x + 10, self.output.width - 20
        W.text(surface, f"#{self.list.selected + 1} {job.name}: {job.status}{rc}, {job.elapsed:.1f} s",
               (x, self.output.y + 8), th.font, color, w)
        y = self.output.y + 30
        for row in W.wrap(job.command, th.mono, w)[:4]:  # the command in full (up to 4 lines)
            W.text(surface, row, (x, y), th.mono, W.DIM)
            y += th.mono.get_linesize()
        y += 4
        p = job.progress() if job.status == "running" else None
        if p is not None:
            bar = pygame.Rect(x, y, w, 16)
            pygame.draw.rect(surface, W.BG, bar, border_radius=4)
            if p[1]:
                pygame.draw.rect(surface, W.ACCENT, (bar.x, bar.y, max(2, bar.width * min(p[0], p[1]) // p[1]),
                                                     bar.height), border_radius=4)
            W.text(surface, p[2], (bar.x + 8, bar.y), th.small, W.TEXT, bar.width - 16)
            y += 22
        if job.status == "failed":  # the error in full, wrapped, above the output
            err = failure_message(job.tail(40))
            rows = W.wrap(err, th.font, w)[:6]
            W.lines(surface, rows, pygame.Rect(x, y, w, len(rows) * (th.font.get_linesize() + 2)), th.font, W.BAD)
            y += len(rows) * (th.font.get_linesize() + 2) + 6
        if job.status == "cancelled" and getattr(job, "removed", None):
            rows = W.wrap("cancelled; removed " + ", ".join(job.removed), th.small, w)[:3]
            W.lines(surface, rows, pygame.Rect(x, y, w, 3 * (th.small.get_linesize() + 2)), th.small, W.WARN)
            y += len(rows) * (th.small.get_linesize() + 2) + 6
        box = pygame.Rect(x, y, w, self.output.bottom - 8 - y)
        line_h = th.mono.get_linesize() + 1
        wrapped = []
        for line in job.tail(max(1, box.height // line_h)):  # long lines wrap: nothing is cut off
            wrapped += wrap_chars(line, th.mono, w)
        rows = max(1, box.height // line_h)
        W.lines(surface, wrapped[-rows:], box, th.mono, W.TEXT, gap=1)


def failure_message(lines: list[str]) -> str:
    """A failed job's error: its last `error:` line and what follows, else its last lines."""
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].startswith("error:") or lines[k].startswith("Traceback"):
            return " ".join(lines[k:]) if lines[k].startswith("error:") else lines[-1]
    rest = [ln for ln in lines if ln.strip()]
    return rest[-1] if rest else "(no output)"


def wrap_chars(line: str, font, width: int) -> list[str]:
    """Split a line into pieces no wider than width (at any character: output lines have long paths)."""
    if font.size(line)[0] <= width:
        return [line]
    out, cur = [], ""
    for ch in line:
        if cur and font.size(cur + ch)[0] > width:
            out.append(cur)
            cur = ch
        else:
            cur += ch
    return out + ([cur] if cur else [])

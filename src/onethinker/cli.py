"""The one ``onethinker`` command. Each subsystem owns its sub-app; heavy imports happen inside commands."""

from __future__ import annotations

import typer

from onethinker.data.cli import app as data_app
from onethinker.demo import demo_command
from onethinker.eval.cli import app as eval_app
from onethinker.models.cli import app as model_app
from onethinker.predict import predict_command
from onethinker.quickstart import quickstart_command
from onethinker.rewards.cli import app as reward_app
from onethinker.train.cli import app as train_app

app = typer.Typer(
    name="onethinker",
    help="Train and evaluate one multimodal reasoning model for image and video (OneThinker).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(reward_app, name="reward", help="Score model responses with the verifiable rewards.")
app.add_typer(data_app, name="data", help="Synthesize, validate, inspect and export corpora.")
app.add_typer(model_app, name="model", help="Build and inspect models.")
app.add_typer(train_app, name="train", help="SFT cold start and EMA-GRPO reinforcement learning.")
app.add_typer(eval_app, name="eval", help="Run models on benchmarks and score predictions.")
app.command("quickstart")(quickstart_command)
app.command("predict")(predict_command)
app.command("demo")(demo_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

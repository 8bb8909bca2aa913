"""``xemogpt push CHECKPOINT REPO_ID``: publish a checkpoint folder to the Hugging Face Hub.

Checks first, uploads after (:func:`hub_cards.push.publish_checkpoint`): the repo id, a token, the folder (safetensors
weights, no pickle files, every remote-code file its ``auto_map`` needs), a load with ``AutoModel`` /
``AutoProcessor`` (``trust_remote_code=True``), then the model card (``README.md``: written from ``config.json`` when
the folder has none, else its usage snippet pointed at REPO_ID), then one commit with every file.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "push",
        help="publish a checkpoint to the Hugging Face Hub (checked, with its model card, in one commit)",
        description="Check a checkpoint folder (safetensors weights, no pickle files, remote code complete, loads "
        "with AutoModel/AutoProcessor and trust_remote_code=True), write or refresh its model card (README.md) and "
        "upload it to REPO_ID in one commit. The token comes from `hf auth login` or HF_TOKEN.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint folder (save_pretrained output with its "
                   "processor, e.g. demo_output/checkpoint or outputs/stage3_sft/merged)")
    p.add_argument("repo_id", metavar="REPO_ID", help="the model repo, owner/name (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its "
                   "visibility)")
    p.add_argument("--revision", metavar="R", help="push to branch R (created from main when missing)")
    p.add_argument("--license", metavar="ID", help="set the card's licence (a Hub licence id, e.g. apache-2.0, "
                   "cc-by-nc-4.0; 'other' with --license-name)")
    p.add_argument("--license-name", help="with --license other: the licence's short name")
    p.add_argument("--license-link", help="with --license other: where its text is (e.g. LICENSE in the repo)")
    p.add_argument("--commit-message", default="Upload XEmoGPT checkpoint")
    p.add_argument("--skip-load-check", action="store_true", help="do not load the model (for a checkpoint too "
                   "large for this machine's memory); the file checks still run")
    p.add_argument("--dry-run", action="store_true", help="check the folder and write its card, then print what "
                   "would be uploaded, without contacting the Hub")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from hub_cards.push import HubPushError, publish_checkpoint

    from .main import CLIError

    try:
        result = publish_checkpoint(
            args.checkpoint, args.repo_id, private=args.private, revision=args.revision, license=args.license,
            license_name=args.license_name, license_link=args.license_link, check_load=not args.skip_load_check,
            dry_run=args.dry_run, commit_message=args.commit_message)
    except HubPushError as exc:
        raise CLIError(str(exc)) from None
    where = f"https://huggingface.co/{args.repo_id}" + (f" (branch {args.revision})" if args.revision else "")
    files = result["files"]
    loaded = "" if args.skip_load_check else ", loads with AutoModel / AutoProcessor (trust_remote_code=True)"
    print(f"checked {args.checkpoint}: {len(files)} files{loaded}; model card {args.checkpoint}/README.md")
    if args.dry_run:
        print(f"dry run: would upload to {where} in one commit: {', '.join(files)}")
        return 0
    commit = result["commit"]
    created = " (new repo" + (", private)" if args.private else ")") if result["created_repo"] else ""
    print(f"pushed {len(files)} files to {where}{created} in one commit: {getattr(commit, 'commit_url', commit)}")
    return 0

"""Shell completion for `taskaction` (and the kubectl-taskaction plugin), generated from the CLI's own argparse
parser, so it knows every command, option and choice without a completion library:
`source <(taskaction completion bash)`, or `zsh` (through bashcompinit)."""

from __future__ import annotations

import argparse
import shlex

SHELLS = ("bash", "zsh")
FUNCTION = "_taskaction_complete"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    commands = _subparsers(parser)
    words: dict[str, list[str]] = {}
    choices: dict[str, list[str]] = {}
    for name, sub in commands.items():
        words[name] = []
        for action in sub._actions:
            words[name] += [o for o in action.option_strings if o not in ("-h",)]
            if action.choices is not None:
                for option in action.option_strings:
                    choices[option] = [str(choice) for choice in action.choices]
                if not action.option_strings:  # a positional with choices: complete them as words
                    words[name] += [str(choice) for choice in action.choices]
    cases = "\n".join(f"        {shlex.quote(name)}) opts={shlex.quote(' '.join(opts))} ;;" for name, opts in words.items())
    prev_cases = "\n".join(
        f"        {'|'.join(shlex.quote(o) for o in group)}) COMPREPLY=($(compgen -W {shlex.quote(' '.join(values))} -- \"$cur\")); return ;;"
        for values, group in _grouped(choices)
    )
    body = f"""{FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" opts=""
    local first=1
    [[ "${{COMP_WORDS[0]}}" == kubectl && "${{COMP_WORDS[1]}}" == taskaction ]] && first=2
    if [[ $COMP_CWORD -eq $first ]]; then
        COMPREPLY=($(compgen -W {shlex.quote(' '.join(commands))} -- "$cur"))
        return
    fi
    case "$prev" in
{prev_cases}
    esac
    case "${{COMP_WORDS[$first]}}" in
{cases}
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}}
complete -o default -F {FUNCTION} taskaction kubectl-taskaction"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


def _grouped(choices: dict[str, list[str]]) -> list[tuple[list[str], list[str]]]:
    """Options with the same choices in one case arm (-o and --output)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for option, values in choices.items():
        groups.setdefault(tuple(values), []).append(option)
    return [(list(values), options) for values, options in groups.items()]

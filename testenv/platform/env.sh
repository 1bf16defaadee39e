#!/usr/bin/env bash
# Print the shell exports of the running platform, for `eval`.
. "$(dirname "$0")/lib.sh"
env_lines

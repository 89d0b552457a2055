#!/usr/bin/env bash
# Runs `infra plan` (with --detailed-exitcode) or `infra drift` for one
# environment in markdown, into the report file the post step sends. A
# failed run's report is its error, so the pull request shows why. Never
# fails itself: it writes `exitcode` and `report` to $GITHUB_OUTPUT and the
# action's last step fails the job on exit 1.
#
# Environment: INFRA_COMMAND (plan|drift), INFRA_ENVIRONMENT, INFRA_WORKDIR
# (default .), INFRA_ARGS (more arguments, split at spaces), INFRA_REPORT
# (default $RUNNER_TEMP/infra-COMMAND-ENV.md).
set -uo pipefail
command="${INFRA_COMMAND:-plan}"
environment="${INFRA_ENVIRONMENT:?the action needs an environment}"
workdir="${INFRA_WORKDIR:-.}"
report="${INFRA_REPORT:-${RUNNER_TEMP:-/tmp}/infra-${command}-${environment}.md}"
output="${GITHUB_OUTPUT:-/dev/null}"

case "$command" in
  plan) flags=(--detailed-exitcode) ;;
  drift) flags=() ;;
  *)
    echo "::error::the infra action runs \`plan\` or \`drift\`, not \`$command\`" >&2
    echo "exitcode=1" >> "$output"
    echo "report=" >> "$output"
    exit 0
    ;;
esac
read -r -a extra <<< "${INFRA_ARGS:-}"

errors="$report.err"
infra "$command" -C "$workdir" --env "$environment" --format markdown \
  "${flags[@]}" "${extra[@]}" > "$report" 2> "$errors"
code=$?
cat "$errors" >&2
if [[ $code -ne 0 && $code -ne 2 ]]; then
  {
    echo "## infra $command: \`$environment\` failed"
    echo
    echo '```'
    head -c 60000 "$errors"
    echo '```'
  } > "$report"
fi
rm -f "$errors"
echo "exitcode=$code" >> "$output"
echo "report=$report" >> "$output"
echo "infra $command --env $environment: exit $code, report in $report"

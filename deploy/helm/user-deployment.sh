#!/bin/sh
# Prints the Helm values of one team's release: deploy/helm/user-deployment.yaml with
# ${LOCATION} replaced by the team's location. Only a location_name of workspace.yaml is
# accepted, so a typo never renders a release for a location that does not exist.
#
# Usage: deploy/helm/user-deployment.sh LOCATION
#   deploy/helm/user-deployment.sh ingestion | helm upgrade --install ingestion \
#     dagster/dagster-user-deployments --version 1.13.27 --namespace dagster -f - \
#     --set 'deployments[0].image.tag'=$GIT_SHA
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
locations=$(sed -n 's/^ *location_name: *//p' "$root/workspace.yaml" | tr '\n' ' ')

[ $# -eq 1 ] || {
    echo "usage: $0 LOCATION   (one of: ${locations% })" >&2
    exit 2
}
case "$1" in
    "" | *[!a-z0-9_]*) ;;
    *)
        case " $locations" in
            *" $1 "*)
                # Values only: the comments keep the placeholder, they explain the template.
                exec sed "/^[[:space:]]*#/!s/[$]{LOCATION}/$1/g" \
                    "$root/deploy/helm/user-deployment.yaml"
                ;;
        esac
        ;;
esac
echo "user-deployment: unknown location '$1'; one of: ${locations% }" >&2
exit 2

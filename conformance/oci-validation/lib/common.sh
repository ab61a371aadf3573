# Shared settings for the husk OCI validation scripts. Sourced, not executed.
#
# HUSK_OCIV_DIR is the cache directory that holds everything the suite needs
# (private apt state, downloaded source, GOPATH, build cache, built suite,
# results). It lives outside the repository on purpose.

HUSK_OCIV_DIR=${HUSK_OCIV_DIR:-/var/tmp/husk-oci-validation}
OCIV_SUITE_DIR=$HUSK_OCIV_DIR/suite
# the directory that holds setup.sh / run.sh / compare.sh
OCIV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ociv_say() { printf '%s: %s\n' "${OCIV_PROG:-oci-validation}" "$*" >&2; }
ociv_die() { printf '%s: error: %s\n' "${OCIV_PROG:-oci-validation}" "$1" >&2; exit "${2:-1}"; }

# True when the suite has been built completely.
ociv_suite_ready() {
  [ -x "$OCIV_SUITE_DIR/runtimetest" ] &&
    [ -s "$OCIV_SUITE_DIR/.fingerprint" ] &&
    compgen -G "$OCIV_SUITE_DIR/rootfs-*.tar.gz" >/dev/null &&
    compgen -G "$OCIV_SUITE_DIR/validation/*.t" >/dev/null
}

#!/bin/sh
# Secrets as files: for every FRESHINDEX_<NAME>_FILE variable (a compose secret under
# /run/secrets, or a mounted Kubernetes Secret), export FRESHINDEX_<NAME> with the file's content
# (without its trailing newline), then run the command. freshindex's settings read only the
# environment, and treat FRESHINDEX_KAFKA_SASL_PASSWORD, FRESHINDEX_WEAVIATE_API_KEY and
# FRESHINDEX_SERVE_API_KEY as secrets (never printed). A variable already set wins.
set -eu
for file_var in $(env | sed -n 's/^\(FRESHINDEX_[A-Z0-9_]*\)_FILE=.*/\1_FILE/p'); do
    target=${file_var%_FILE}
    if [ -z "$(printenv "$target" || true)" ]; then
        eval "path=\${$file_var}"
        value=$(cat "$path")
        export "$target=$value"
    fi
    unset "$file_var"
done
exec "$@"

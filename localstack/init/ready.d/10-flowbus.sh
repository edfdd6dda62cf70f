#!/bin/bash
# LocalStack ready hook: creates flowbus's Kinesis stream and DynamoDB table.
# Runs inside the localstack/localstack container (mounted at
# /etc/localstack/init/ready.d), where `awslocal` is on PATH. Idempotent: an
# existing stream or table is left as it is.
#
#   FLOWBUS_STREAM  stream name (default flowbus-events), 1 shard
#   FLOWBUS_TABLE   table name (default flowbus-events):
#                   pk (S, HASH) + sk (S, RANGE), PAY_PER_REQUEST
#   AWSLOCAL        CLI to use (default awslocal). Outside the container, after
#                   eval "$(localstack/engines.sh start)", AWSLOCAL=aws runs the
#                   same setup against the local engines.
set -euo pipefail

awslocal="${AWSLOCAL:-awslocal}"
stream="${FLOWBUS_STREAM:-flowbus-events}"
table="${FLOWBUS_TABLE:-flowbus-events}"

# run_idempotent WHAT CMD...: runs CMD; an "already exists" error counts as done.
run_idempotent() {
  local what=$1 out
  shift
  if out="$("$@" 2>&1)"; then
    echo "flowbus init: created $what"
  elif grep -qE 'ResourceInUseException|already exists' <<<"$out"; then
    echo "flowbus init: $what already exists"
  else
    echo "flowbus init: creating $what failed:" >&2
    echo "$out" >&2
    return 1
  fi
}

run_idempotent "kinesis stream $stream" \
  "$awslocal" kinesis create-stream --stream-name "$stream" --shard-count 1

run_idempotent "dynamodb table $table" \
  "$awslocal" dynamodb create-table \
    --table-name "$table" \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST

"$awslocal" kinesis wait stream-exists --stream-name "$stream"
"$awslocal" dynamodb wait table-exists --table-name "$table"
echo "flowbus init: stream $stream and table $table are ACTIVE"

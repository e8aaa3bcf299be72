#!/usr/bin/env bash
# Fails if protocol/ includes anything that does I/O, reads a clock or
# starts a thread (conventions.md §1). protocol/ is sans-I/O by contract.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
forbidden='#\s*include\s*[<"](uv\.h|lmdb\.h|openssl/ssl\.h|sys/socket\.h|netinet/[^>"]*|arpa/inet\.h|netdb\.h|thread|chrono|ctime|time\.h|sys/time\.h|future|mutex|condition_variable|random|fstream|cstdio|stdio\.h|unistd\.h|fcntl\.h)[>"]'
if hits=$(grep -rnE "$forbidden" protocol/ --include='*.h' --include='*.cc'); then
  echo "protocol/ must stay sans-I/O; forbidden includes:"
  echo "$hits"
  exit 1
fi
calls='\b(std::chrono|time\(|clock_gettime|gettimeofday|std::thread|fopen|getrandom|std::random_device|rand\(\))'
if hits=$(grep -rnE "$calls" protocol/ --include='*.cc' --include='*.h' | grep -v '^\s*//'); then
  echo "protocol/ must not read clocks, spawn threads, open files or draw randomness:"
  echo "$hits"
  exit 1
fi
echo "layering ok"

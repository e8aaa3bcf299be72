// The standard process_* metrics of a Prometheus exporter (resident memory,
// open and maximum descriptors, CPU time, start time), read from /proc/self
// and getrlimit() when a scraper asks. Reading is a handful of small
// synchronous reads of procfs, which never block on a disk; it never keeps
// state and never fails: what cannot be read is left out.
#pragma once

#include "server/metrics.h"

namespace xd::server {

// Reads the current values for this process. Fields that cannot be read
// (no /proc, an unexpected format) stay nullopt.
ProcessStats read_process_stats();

}  // namespace xd::server

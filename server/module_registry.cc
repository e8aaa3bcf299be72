#include "server/module_registry.h"

namespace xd::server {

std::string iq_event_key(std::string_view type, std::string_view target, std::string_view ns,
                         std::string_view name) {
  std::string key;
  key.reserve(8 + target.size() + ns.size() + name.size());
  key.append("iq-").append(type).push_back('/');
  key.append(target).push_back('/');
  key.append(ns).push_back(':');
  key.append(name);
  return key;
}

}  // namespace xd::server

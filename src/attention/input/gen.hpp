#pragma once
// `attnbench gen` (--kernel attention, the default): /Q, /K, /V with the values of the synthetic run
// (the attention kernel's GenSpec, harness/kernel.hpp).
#include "harness/kernel.hpp"

namespace attnbench::attention {
harness::GenSpec attention_gen();
}

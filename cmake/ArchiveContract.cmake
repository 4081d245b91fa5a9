# attnbench_archive_contract(TARGET <target> TABLE <file> NAMESPACE <ns> FUNCTION <name>)
#
# Builds a kernel's archive contract - a text table, one key a line (src/<kernel>/archive_contract.txt,
# its format in its header) - into <target> as the function `std::vector<harness::ArchiveKey>
# <ns>::<name>()`, which parses the embedded table (harness::parse_archive_contract). The table is
# data, declared once: the writer checks against it, --describe prints it, compare reads it from there.
# The generated source is rewritten only when the table changes, and a changed table re-runs CMake.
function(attnbench_archive_contract)
  cmake_parse_arguments(AC "" "TARGET;TABLE;NAMESPACE;FUNCTION" "" ${ARGN})
  set(table "${CMAKE_CURRENT_SOURCE_DIR}/${AC_TABLE}")
  file(READ "${table}" text)
  if(text MATCHES "\\)contract\"")
    message(FATAL_ERROR "${table}: holds ')contract\"', which ends the embedded raw string")
  endif()
  file(RELATIVE_PATH source "${PROJECT_SOURCE_DIR}" "${table}")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${AC_FUNCTION}.cpp")
  file(CONFIGURE OUTPUT "${out}" @ONLY CONTENT
"// Generated from ${source} by cmake/ArchiveContract.cmake: edit the table, not this file.
#include \"harness/kernel.hpp\"

namespace ${AC_NAMESPACE} {

std::vector<attnbench::harness::ArchiveKey> ${AC_FUNCTION}() {
  static constexpr char kTable[] = R\"contract(${text})contract\";
  return attnbench::harness::parse_archive_contract(kTable, \"${source}\");
}

}  // namespace ${AC_NAMESPACE}
")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${table}")
  target_sources(${AC_TARGET} PRIVATE "${out}")
endfunction()

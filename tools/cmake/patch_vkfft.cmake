# Makes a copy of Debian's vkFFT.h (VkFFT 1.2.26) that builds against glslang 12, at build time:
#   cmake -DIN=/usr/include/vkFFT.h -DOUT=<build>/vkfft/vkFFT.h -P patch_vkfft.cmake
# The header's two built-in `glslang_resource_t default_resource = {...}` tables follow an older struct layout:
# glslang 12 added fields before `.limits`, so as C++ they do not compile and as C they silently zero the loop
# limits (every generated kernel then fails with "Non-constant-index-expression"). Both tables are replaced by
# glslang's own defaults, *glslang_default_resource() from <glslang/Public/resource_limits_c.h>.
# Anything unexpected (another VkFFT version) fails the build with a message instead of a half-patched header.
cmake_minimum_required(VERSION 3.25)
if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "patch_vkfft.cmake: pass -DIN=<vkFFT.h> -DOUT=<patched copy>")
endif()
file(READ "${IN}" text)

set(include_line "#include <glslang/Include/glslang_c_interface.h>")
string(FIND "${text}" "${include_line}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "patch_vkfft.cmake: ${IN} does not include glslang_c_interface.h (unexpected VkFFT version)")
endif()
string(REPLACE "${include_line}" "${include_line}\n#include <glslang/Public/resource_limits_c.h>" text "${text}")

set(table_begin "const glslang_resource_t default_resource = {")
set(table_end "} };")
set(replaced 0)
while(TRUE)
  string(FIND "${text}" "${table_begin}" begin)
  if(begin EQUAL -1)
    break()
  endif()
  string(SUBSTRING "${text}" ${begin} -1 rest)
  string(FIND "${rest}" "${table_end}" len)
  if(len EQUAL -1)
    message(FATAL_ERROR "patch_vkfft.cmake: unterminated default_resource table in ${IN}")
  endif()
  string(LENGTH "${table_end}" end_len)
  math(EXPR after "${begin} + ${len} + ${end_len}")
  string(SUBSTRING "${text}" 0 ${begin} head)
  string(SUBSTRING "${text}" ${after} -1 tail)
  set(text "${head}const glslang_resource_t default_resource = *glslang_default_resource();${tail}")
  math(EXPR replaced "${replaced} + 1")
endwhile()
if(NOT replaced EQUAL 2)
  message(FATAL_ERROR "patch_vkfft.cmake: expected 2 default_resource tables in ${IN}, found ${replaced}")
endif()

file(WRITE "${OUT}.tmp" "${text}")
file(RENAME "${OUT}.tmp" "${OUT}")

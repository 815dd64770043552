# CMake package config of libmtproto, installed to <prefix>/lib/cmake/mtproto
# by scripts/install-c.sh. Usage:
#
#   find_package(mtproto 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE mtproto::mtproto)          # shared
#   target_link_libraries(app PRIVATE mtproto::mtproto_static)   # static
#
# Relocatable: paths are computed from this file's location.

get_filename_component(_mtproto_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET mtproto::mtproto)
  add_library(mtproto::mtproto SHARED IMPORTED)
  set_target_properties(mtproto::mtproto PROPERTIES
    IMPORTED_LOCATION "${_mtproto_prefix}/lib/libmtproto.so.0"
    IMPORTED_SONAME "libmtproto.so.0"
    INTERFACE_INCLUDE_DIRECTORIES "${_mtproto_prefix}/include")
endif()

if(NOT TARGET mtproto::mtproto_static AND EXISTS "${_mtproto_prefix}/lib/libmtproto.a")
  find_package(Threads REQUIRED)
  add_library(mtproto::mtproto_static STATIC IMPORTED)
  set_target_properties(mtproto::mtproto_static PROPERTIES
    IMPORTED_LOCATION "${_mtproto_prefix}/lib/libmtproto.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_mtproto_prefix}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
endif()

set(mtproto_INCLUDE_DIRS "${_mtproto_prefix}/include")
set(mtproto_LIBRARIES mtproto::mtproto)
unset(_mtproto_prefix)

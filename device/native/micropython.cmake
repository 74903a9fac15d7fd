# ulearn_native as a firmware user C module for CMake ports (esp32, rp2):
#   include(${CMAKE_CURRENT_LIST_DIR}/native/micropython.cmake) from your USER_C_MODULES cmake file.
add_library(usermod_ulearn_native INTERFACE)
target_sources(usermod_ulearn_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/ulearn_native.c
    ${CMAKE_CURRENT_LIST_DIR}/ulearn_kernel.c
)
target_include_directories(usermod_ulearn_native INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_ulearn_native)

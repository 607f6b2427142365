{
  "targets": [
    {
      "target_name": "mrsync_native",
      "sources": ["native/addon.cc", "native/fsops.cc", "native/probes.cc", "native/pageloop.cc", "native/sender.cc", "native/socket.cc", "native/receiver.cc", "native/wire.cc", "native/bitmap.cc", "native/fec.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations", "-Wno-missing-field-initializers", "-fexceptions"]
    }
  ]
}

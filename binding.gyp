{
  "targets": [
    {
      "target_name": "uvs_native",
      "sources": [
        "native/addon.cc",
        "native/batch.cc",
        "native/iface.cc",
        "native/mem.cc",
        "native/ring.cc",
        "native/steer.cc",
        "native/rx.cc",
        "native/probe.cc",
        "native/uring.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a call into Node while a worker thread is being
      # terminated fails quietly instead of aborting the process (node-addon-api's default).
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}

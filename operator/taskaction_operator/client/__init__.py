"""The control-plane side: building TaskActions (`manifests`), creating, following, aborting and signalling runs
(`runs`, over `kube.KubeApi`), and the `taskaction` CLI (`cli`). See docs/client.md."""

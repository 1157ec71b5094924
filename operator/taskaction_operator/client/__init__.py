"""The control-plane side: building TaskActions (`manifests`, `names`), creating and aborting runs (`runs`),
following them (`trees`, `action_phase`), signalling conditions (`signals`), inputs and outputs (`action_io`,
`literals`), all over `kube.KubeApi` and raising `errors`; the Flyte SDK's bundles and templates (`sdk`) and the
`taskaction` CLI (`cli`). See docs/client.md."""

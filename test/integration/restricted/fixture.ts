/**
 * The mloop.yaml of a cloned repository nobody trusts yet: each pipeline would leave a marker file in
 * the folder if it ran. The restricted integration run opens a folder holding it in Restricted Mode.
 */
export const RESTRICTED_MLOOP_YAML = `version: 1
pipelines:
  shell:
    command: touch PWNED-shell && echo "::mloop metric name=m value=1"
  list:
    command: [python3, -c, "open('PWNED-list', 'w').write('ran')"]
    sweep: { list: [{}, {}] }
stages:
  stage-shell:
    cmd: touch PWNED-stage-shell
  stage-list:
    command: [python3, -c, "open('PWNED-stage-list', 'w').write('ran')"]
`;

/** Files a pipeline of the fixture writes when it runs: none may exist after the restricted suite. */
export const RESTRICTED_MARKERS = ['PWNED-shell', 'PWNED-list', 'PWNED-stage-shell', 'PWNED-stage-list'];

# {{domain}} on a host that runs its workers but does not serve it: its own Unix user and home,
# where megaweb-deploy keeps its releases and the workers find current/.
if ! id -u {{user}} >/dev/null 2>&1; then
  useradd --system --user-group --home-dir {{home}} --no-create-home --shell /usr/sbin/nologin {{user}}
fi
{{#directories}}
install -d -m {{mode}} -o {{user}} -g {{group}} {{path}}
{{/directories}}
forget_previous

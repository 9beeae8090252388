# {{domain}}: its code. The deploy script and the site's deploy settings, then a deploy; nothing
# is built when the release this code makes is live already, and a failed build or migration
# fails the step with the live release still serving.
{{{files}}}
forget_previous
{{deployCommand}}

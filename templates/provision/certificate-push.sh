# {{host}} sends every certificate it issued to the other web nodes, the ones they are new to
# included; a node that does not take one fails this step and says which.
{{{files}}}
forget_previous
{{pushCommand}}

# A secret file, from stdin: never part of a command string, a log or a preview.
put_file {{path}} {{mode}} {{owner}} </dev/stdin
forget_previous

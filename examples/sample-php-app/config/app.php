<?php

// What the page shows as the running version; a deploy of a new commit changes it.
return [
    'name' => 'megaweb sample app',
    'version' => '1.0.0',
];

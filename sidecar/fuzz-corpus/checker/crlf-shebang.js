#!/usr/bin/env odw
export const meta = {name:"crlf"};
// comment \u{d800}
return "\ud800";

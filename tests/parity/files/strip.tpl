x

%{~ if true }y%{ endif }
  %{~ for v in [1,2] ~}
  ${v}
  %{~ endfor ~}
end

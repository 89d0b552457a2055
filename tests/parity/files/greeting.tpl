%{ for n in names ~}
${loud ? upper(n) : n}
%{ endfor ~}
done
